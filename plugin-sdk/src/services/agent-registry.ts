import type { AgentLimits } from '../agent.js';

/** An agent as `opspawn agents list`, `GET /v1/agents` and gRPC `ListAgents` show it (no options, no instructions). */
export interface AgentInfo {
  id: string;
  description?: string;
  /** Plugin id of its planner (the deployment's default when the agent names none). */
  planner: string;
  /** Plugin id of its memory (the deployment's default when the agent names none). */
  memory: string;
  /** Its tool scope: names and globs over namespaced tools. */
  tools: string[];
  limits: AgentLimits;
  labels: Record<string, string>;
}

/** The deployment's agents, from the config's `agents`. */
export interface AgentRegistry {
  /** The agent a task naming none runs, if the config sets `defaultAgent`. */
  readonly defaultAgent?: string;
  list(): AgentInfo[];
  /** Throws OpspawnError AGENT_NOT_FOUND, naming the known ids. */
  get(id: string): AgentInfo;
}
