/**
 * Gathers the calls made in one turn of the event loop and runs them as one batch: one statement or one write
 * for many callers. Where system calls are what a process spends its time on, this is most of its throughput.
 *
 *     const inserts = new TickBatch<Row, Task>((rows) => insertMany(rows));
 *     const task = await inserts.add(row);
 *
 * `run` gets the items in call order and returns one result per item, in the same order; an `Error` in the results
 * rejects that caller only, a thrown error rejects every caller of the batch.
 *
 * With `maxRunning`, at most that many batches run at once: calls made while they do wait, and leave together as
 * the next batch the moment one finishes (group commit). Under load that makes fewer, larger batches, and each
 * saved statement is work saved on both sides of the connection; an idle batcher still runs a call in its turn.
 */
export class TickBatch<I, O> {
  private pending: Array<{ item: I; resolve: (value: O) => void; reject: (error: unknown) => void }> = [];
  private running = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<Array<O | Error>>,
    private readonly maxItems = 500,
    private readonly maxRunning = Number.POSITIVE_INFINITY,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      // While every slot is busy, the batch that finishes first takes these calls along.
      if (this.pending.length === 0 && this.running < this.maxRunning) setImmediate(() => this.flush());
      this.pending.push({ item, resolve, reject });
    });
  }

  private flush(): void {
    while (this.pending.length > 0 && this.running < this.maxRunning) {
      const slice = this.pending.splice(0, this.maxItems);
      this.running++;
      let ran: Promise<Array<O | Error>>;
      try {
        ran = this.run(slice.map((p) => p.item));
      } catch (error) {
        ran = Promise.reject(error);
      }
      ran
        .then(
          (results) =>
            slice.forEach((p, i) => {
              const result = results[i];
              if (result instanceof Error) p.reject(result);
              else p.resolve(result as O);
            }),
          (error) => {
            for (const p of slice) p.reject(error);
          },
        )
        .finally(() => {
          this.running--;
          this.flush();
        });
    }
  }
}
