import type { Task } from '@opspawn/plugin-sdk';

/** Percentile of already sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(samplesMs: number[]): { p50: number; p99: number; mean: number; n: number } {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean, n: sorted.length };
}

export function fmt(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

/** Rate from the first task started to the last finished, by the tasks' own timestamps. */
export function taskRate(done: Task[]): { rate: number; taskMs: number; failed: number } {
  const started = done.map((t) => Date.parse(t.startedAt ?? t.createdAt));
  const finished = done.map((t) => Date.parse(t.finishedAt ?? t.updatedAt));
  const span = (Math.max(...finished) - Math.min(...started)) / 1000;
  const taskMs = done.reduce((sum, _, i) => sum + finished[i]! - started[i]!, 0) / done.length;
  return { rate: done.length / span, taskMs, failed: done.filter((t) => t.status !== 'succeeded').length };
}
