/**
 * Gathers the calls made in one turn of the event loop and runs them as one batch: one statement or one write
 * for many callers. Where system calls are what a process spends its time on, this is most of its throughput.
 *
 *     const inserts = new TickBatch<Row, Task>((rows) => insertMany(rows));
 *     const task = await inserts.add(row);
 *
 * `run` gets the items in call order and returns one result per item, in the same order; an `Error` in the results
 * rejects that caller only, a thrown error rejects every caller of the batch.
 */
export class TickBatch<I, O> {
  private pending: Array<{ item: I; resolve: (value: O) => void; reject: (error: unknown) => void }> = [];

  constructor(
    private readonly run: (items: I[]) => Promise<Array<O | Error>>,
    private readonly maxItems = 500,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ item, resolve, reject });
    });
  }

  private flush(): void {
    const all = this.pending;
    this.pending = [];
    for (let start = 0; start < all.length; start += this.maxItems) {
      const slice = all.slice(start, start + this.maxItems);
      this.run(slice.map((p) => p.item)).then(
        (results) =>
          slice.forEach((p, i) => {
            const result = results[i];
            if (result instanceof Error) p.reject(result);
            else p.resolve(result as O);
          }),
        (error) => {
          for (const p of slice) p.reject(error);
        },
      );
    }
  }
}
