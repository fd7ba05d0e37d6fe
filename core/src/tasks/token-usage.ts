import type { TokenUsage } from '@opspawn/plugin-sdk';

/**
 * The tokens a task's attempt used, on top of what its earlier attempts used: the agent loop adds each decision's
 * usage, and the move that settles the attempt writes the total on the task.
 */
export class UsageTally {
  private total: TokenUsage | undefined;
  private reported = false;

  constructor(previous: TokenUsage | undefined) {
    this.total = previous ? { ...previous } : undefined;
  }

  add(usage: TokenUsage): void {
    const total = this.total ?? { inputTokens: 0, outputTokens: 0, llmCalls: 0 };
    total.inputTokens += usage.inputTokens;
    total.outputTokens += usage.outputTokens;
    total.llmCalls += usage.llmCalls;
    this.total = total;
    this.reported = true;
  }

  /** What the settling move writes: the new total once this attempt reported usage, else nothing. */
  change(): { usage?: TokenUsage } {
    return this.reported && this.total ? { usage: { ...this.total } } : {};
  }
}
