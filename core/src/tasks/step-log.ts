import type { ChatMessage, StepRecord, TaskEvent, TaskEventData, ToolCall, ToolObservation } from '@opspawn/plugin-sdk';
import { canonicalJson } from './submit-validation.js';

/** Events read from the store in one go when an attempt rebuilds its checkpoint. */
const LOG_PAGE = 1000;

/** What the log holds about one step: the planner's decision and the calls' stored results. */
export interface LoggedStep {
  step: number;
  thought?: string;
  calls: ToolCall[];
  /** Calls whose `tool_call` event is stored: started at least once. */
  started: Set<string>;
  /** Calls whose `tool_result` event is stored: done, never run again. */
  results: Map<string, ToolObservation>;
  /** Approval requests of this step's calls, by call id (the last one asked). */
  requested: Map<string, TaskEventData<'approval_requested'>>;
  /** Decisions on this step's calls, by call id. */
  decided: Map<string, TaskEventData<'approval_decided'>>;
}

/**
 * A task's checkpoint, read from its event log: the stored `plan`, `tool_call`, `tool_result` and approval events
 * are the record of every completed step (docs/explanation/delivery-guarantees.md). An attempt that starts reads it
 * and continues after the last completed step instead of starting over.
 */
export class StepLog {
  /** By step, in order. A later `plan` of a step replaces it and drops the steps after it (logs of old hosts). */
  readonly steps: LoggedStep[] = [];
  /** The stored final answer, when an attempt gave one but did not settle the task. */
  final?: { output: unknown };
  /** How many approval decisions the task has had: each queued it again and so started one more attempt. */
  decisions = 0;

  static async read(
    taskId: string,
    events: (taskId: string, afterSeq: number, limit: number) => Promise<TaskEvent[]>,
  ): Promise<StepLog> {
    const log = new StepLog();
    for (let after = 0; ; ) {
      const page = await events(taskId, after, LOG_PAGE);
      for (const event of page) log.add(event);
      if (page.length < LOG_PAGE) return log;
      after = page[page.length - 1]!.seq;
    }
  }

  add(event: TaskEvent): void {
    switch (event.type) {
      case 'plan': {
        const { step, thought, calls } = event.data;
        this.steps.length = Math.min(this.steps.length, step - 1);
        this.steps[step - 1] = {
          step,
          ...(thought !== undefined ? { thought } : {}),
          calls: calls as ToolCall[],
          started: new Set(),
          results: new Map(),
          requested: new Map(),
          decided: new Map(),
        };
        return;
      }
      case 'tool_call':
        this.at(event.data.step)?.started.add(event.data.id);
        return;
      case 'tool_result': {
        const { step, id, ok, output, error } = event.data;
        this.at(step)?.results.set(
          id,
          ok ? { ok: true, output: output ?? null } : { ok: false, error: error ?? { code: '', message: '' } },
        );
        return;
      }
      case 'approval_requested':
        this.at(event.data.step)?.requested.set(event.data.callId, event.data);
        return;
      case 'approval_decided':
        this.decisions++;
        this.at(event.data.step)?.decided.set(event.data.callId, event.data);
        return;
      case 'final':
        this.final = { output: event.data.output };
        return;
      case 'status': {
        // A retry after a failed attempt runs the failed calls of the step that attempt ended on again: a retry is
        // for what may succeed the next time. The calls that succeeded, and every earlier step, stay done.
        const last = this.steps[this.steps.length - 1];
        if (event.data.status === 'queued' && event.data.retryInMs !== undefined && last)
          for (const [id, observation] of last.results) if (!observation.ok) last.results.delete(id);
        return;
      }
      case 'log':
      case 'handoff':
        return;
    }
  }

  private at(step: number): LoggedStep | undefined {
    return this.steps[step - 1];
  }

  /** The steps every call of which has a stored result: done, in order from step 1. */
  completed(): LoggedStep[] {
    const done: LoggedStep[] = [];
    for (const step of this.steps) {
      if (!step || !isComplete(step)) break;
      done.push(step);
    }
    return done;
  }

  /** The step after the completed ones, when its decision is stored but some of its calls have no result yet. */
  pending(): LoggedStep | undefined {
    const next = this.steps[this.completed().length];
    return next && !isComplete(next) ? next : undefined;
  }
}

function isComplete(step: LoggedStep): boolean {
  return step.calls.every((c) => step.results.has(c.id));
}

/** A completed step as the planner's `history` holds it. */
export function stepRecord(step: LoggedStep): StepRecord {
  return {
    step: step.step,
    ...(step.thought !== undefined ? { thought: step.thought } : {}),
    calls: step.calls.map((call) => ({ call, observation: step.results.get(call.id)! })),
  };
}

/** What a completed step adds to memory, in one append: the assistant's calls, then each call's result. */
export function stepMessages(record: StepRecord): ChatMessage[] {
  return [
    { role: 'assistant', content: record.thought ?? '', toolCalls: record.calls.map(({ call }) => call) },
    ...record.calls.map(
      ({ call, observation }): ChatMessage => ({
        role: 'tool',
        toolCallId: call.id,
        name: call.tool,
        content: JSON.stringify(observation.ok ? observation.output : { error: observation.error }) ?? 'null',
      }),
    ),
  ];
}

/**
 * How many of `done` the session's memory already holds: memory gets a step's messages in one append after the
 * step's results are stored, so its last messages are those of the last step it got (or the goal, when it got
 * none). -1: not even the goal (the attempt that appends it died first).
 */
export function stepsInMemory(memory: readonly ChatMessage[], goal: ChatMessage, done: readonly StepRecord[]): number {
  const endsWith = (tail: readonly ChatMessage[]) =>
    memory.length >= tail.length && tail.every((m, i) => sameMessage(memory[memory.length - tail.length + i]!, m));
  for (let i = done.length; i >= 1; i--) if (endsWith(stepMessages(done[i - 1]!))) return i;
  return endsWith([goal]) ? 0 : -1;
}

/** Equal messages; a tool result's JSON compares by value, since a store may give its keys back in another order. */
function sameMessage(a: ChatMessage, b: ChatMessage): boolean {
  const content = (m: ChatMessage): unknown => {
    if (m.role !== 'tool') return m.content;
    try {
      return JSON.parse(m.content);
    } catch {
      return m.content;
    }
  };
  const shape = (m: ChatMessage) => ({
    role: m.role,
    content: content(m),
    toolCalls: m.toolCalls?.length ? m.toolCalls : undefined,
    toolCallId: m.toolCallId,
    name: m.name,
  });
  return canonicalJson(shape(a)) === canonicalJson(shape(b));
}
