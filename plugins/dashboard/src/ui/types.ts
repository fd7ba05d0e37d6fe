/** The API's shapes as the page reads them: loose on purpose, so a field or status added later still shows. */

export interface Task {
  id: string;
  goal: string;
  status: string;
  agent?: string;
  planner?: string;
  parentId?: string;
  output?: unknown;
  error?: { code: string; message: string };
  usage?: { inputTokens: number; outputTokens: number; llmCalls: number };
  attempts: number;
  maxAttempts: number;
  labels: Record<string, string>;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  cancelRequested?: boolean;
}

export interface TaskEvent {
  taskId: string;
  seq: number;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

export interface TaskDelta {
  taskId: string;
  type: 'delta';
  afterSeq: number;
  index: number;
  data: { step: number; kind: string; text?: string; callId?: string; tool?: string; fragment?: string };
}

export interface ErrorHint {
  description: string;
  hint: string;
  docUrl: string;
}

/** What the page was served with (the plugin's options). */
export interface Settings {
  title: string;
  refreshMs: number;
}

/** A view draws into the page's main element and returns how to stop (timers, streams). */
export type View = (main: HTMLElement, settings: Settings) => () => void;
