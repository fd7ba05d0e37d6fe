import type { Task, TokenUsage } from '../task.js';
import type { ChatMessage } from './memory.js';
import type { ToolSpec } from './tool-provider.js';

export interface ToolCall {
  /** Unique within the task; links the call to its result. */
  id: string;
  /** Namespaced tool name, `provider__tool`. */
  tool: string;
  arguments: unknown;
}

export type ToolObservation = { ok: true; output: unknown } | { ok: false; error: { code: string; message: string } };

export interface StepRecord {
  step: number;
  thought?: string;
  calls: Array<{ call: ToolCall; observation: ToolObservation }>;
}

/** The agent a task runs, as its planner receives it. */
export interface PlanAgent {
  id: string;
  /** The agent's instructions with `{{ }}` filled from the task (use them as the system message). */
  instructions?: string;
  /** The agent's options for this planner (e.g. model, temperature); `{}` when it has none. */
  options: Record<string, unknown>;
}

export interface PlanRequest {
  task: Task;
  /** Set when the task runs an agent; `tools` then holds only the agent's tools. */
  agent?: PlanAgent;
  /** The session's messages from memory, including this task's goal and earlier observations. */
  messages: ChatMessage[];
  tools: ToolSpec[];
  /** 1 for the first decision. */
  step: number;
  /** What happened in earlier steps of this attempt. */
  history: StepRecord[];
  signal: AbortSignal;
  /**
   * Call it with each fragment of the decision as the model generates it (text, or a tool call's arguments), before
   * `plan` returns. Watchers see the fragments live (coalesced); they are not stored, the decision is. Cheap when
   * nobody watches. Absent when the host does not take fragments.
   */
  onDelta?: (delta: PlanDelta) => void;
}

/** A fragment of a decision while the model generates it. */
export type PlanDelta =
  | { kind: 'text'; text: string }
  | { kind: 'tool_arguments'; callId: string; tool?: string; fragment: string };

/**
 * `model` names the model that made the decision, as the deployment's config names it (an agent's `model` option
 * or the planner's own), not as the provider echoes it back: metrics label LLM calls by it, so it must take few
 * values. At most 200 characters.
 */
export type PlanDecision =
  | { kind: 'tools'; calls: ToolCall[]; thought?: string; usage?: TokenUsage; model?: string }
  | { kind: 'final'; output: unknown; thought?: string; usage?: TokenUsage; model?: string };

/**
 * Decides the next step of a task.
 *
 * Promise: given the goal, the messages and the tool specs, returns tool calls or a final answer; honours
 * `signal`. A planner that throws or returns something else fails the attempt with a clear error code.
 */
export interface Planner {
  plan(request: PlanRequest): Promise<PlanDecision>;
  /** Optional: refuse a task's input at submit time (throw OpspawnError TASK_INVALID naming the field). */
  validateInput?(input: unknown): void;
}
