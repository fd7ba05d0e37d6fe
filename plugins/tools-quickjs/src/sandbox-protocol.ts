import type { FetchGrant, SandboxLimits } from './options.js';

/** Read a tool file's metadata (`name`, `description`, schemas, declared capabilities). */
export interface DescribeJob {
  kind: 'describe';
  file: string;
  source: string;
  limits: SandboxLimits;
  /** Epoch milliseconds at which the guest is interrupted. */
  deadline: number;
}

/** Run one tool call. */
export interface CallJob {
  kind: 'call';
  tool: string;
  file: string;
  source: string;
  inputJson: string;
  limits: SandboxLimits;
  grants: { fetch?: FetchGrant };
  deadline: number;
}

export type SandboxJob = DescribeJob | CallJob;

/** What a job produced: JSON text on success, a coded failure otherwise. */
export type SandboxOutcome = { ok: true; json: string } | { ok: false; code: string; message: string };

export type HostToWorker = { type: 'job'; id: number; job: SandboxJob };

export type WorkerToHost =
  | { type: 'ready' }
  | { type: 'log'; id: number; level: LogLevel; message: string }
  | { type: 'done'; id: number; outcome: SandboxOutcome; moduleDiscarded: boolean }
  /** Freeing a finished job's sandbox failed after its answer was posted: its module was thrown away. */
  | { type: 'module-discarded' };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
