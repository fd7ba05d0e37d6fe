import type { EventBus, PlanDelta, TaskDelta, TaskDeltaData } from '@opspawn/plugin-sdk';

/** How long fragments gather before they are published together: at most ~20 bus (and Redis) messages a second. */
export const DELTA_FLUSH_MS = 50;
/** Buffered characters that publish at once, so one message stays small even when the model is fast. */
export const DELTA_FLUSH_CHARS = 4096;

/**
 * The deltas of one running attempt, coalesced before they reach the bus: adjacent fragments of the same text or
 * the same call's arguments become one delta, published every `DELTA_FLUSH_MS` (or `DELTA_FLUSH_CHARS`). Each
 * delta carries the seq of the last stored event of its task (`afterSeq`, kept current by `TaskEvents`) and its
 * index since, as ADR 0012 describes. Nothing is buffered while nobody may watch.
 */
export class DeltaStream {
  private afterSeq = 0;
  private index = 0;
  private pending: TaskDeltaData[] = [];
  private pendingChars = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    readonly taskId: string,
    private readonly bus: EventBus,
    private readonly onClose: () => void,
  ) {}

  /** A stored event of the task was published: later deltas follow it. Pending ones are published first. */
  stored(seq: number): void {
    this.flush();
    this.afterSeq = seq;
    this.index = 0;
  }

  push(step: number, delta: PlanDelta): void {
    if (!this.bus.mayWatch(this.taskId)) return;
    const piece: unknown = delta.kind === 'text' ? delta.text : delta.fragment;
    // A planner's slip (an empty or non-text fragment) is skipped: fragments are a courtesy, the decision counts.
    if (typeof piece !== 'string' || piece === '') return;
    const last = this.pending.at(-1);
    if (last?.kind === 'text' && delta.kind === 'text' && last.step === step) last.text += delta.text;
    else if (
      last?.kind === 'tool_arguments' &&
      delta.kind === 'tool_arguments' &&
      last.step === step &&
      last.callId === delta.callId
    ) {
      last.fragment += delta.fragment;
      if (delta.tool !== undefined) last.tool = delta.tool;
    } else
      this.pending.push(
        delta.kind === 'text'
          ? { step, kind: 'text', text: delta.text }
          : {
              step,
              kind: 'tool_arguments',
              callId: String(delta.callId),
              ...(delta.tool !== undefined ? { tool: String(delta.tool) } : {}),
              fragment: delta.fragment,
            },
      );
    this.pendingChars += piece.length;
    if (this.pendingChars >= DELTA_FLUSH_CHARS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), DELTA_FLUSH_MS).unref();
  }

  /** Publishes what is pending now (the planner returned, or a stored event follows). */
  flush(): void {
    if (this.pending.length === 0) return; // every stored event flushes: most find nothing pending
    clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = [];
    this.pendingChars = 0;
    const at = new Date().toISOString();
    for (const data of pending) {
      const delta: TaskDelta = {
        taskId: this.taskId,
        type: 'delta',
        transient: true,
        afterSeq: this.afterSeq,
        index: this.index++,
        at,
        data,
      };
      this.bus.publish(delta);
    }
  }

  close(): void {
    this.flush();
    this.onClose();
  }
}
