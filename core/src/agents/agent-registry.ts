import {
  ErrorCodes,
  OpspawnError,
  type AgentDefinition,
  type AgentInfo,
  type AgentRegistry,
} from '@opspawn/plugin-sdk';
import { ApprovalPolicies } from './approval-policy.js';
import { ToolScope } from './tool-scope.js';

/** An agent with what only the engine sees: its planner options, its instructions and its compiled scope. */
export interface ResolvedAgent extends AgentInfo {
  options: Record<string, unknown>;
  instructions?: string;
  scope: ToolScope;
  /** Which of its tool calls wait for a person's approval. */
  approvals: ApprovalPolicies;
}

/**
 * The config's `agents`, with the deployment's default planner and memory filled in where an agent names none.
 * The static checks (`checkAgents`) have refused unknown planners and memories before this is built.
 */
export class ConfigAgentRegistry implements AgentRegistry {
  private readonly agents: Map<string, ResolvedAgent>;

  constructor(
    definitions: Record<string, AgentDefinition> | undefined,
    defaults: { planner?: string; memory?: string },
    readonly defaultAgent?: string,
  ) {
    this.agents = new Map(
      Object.entries(definitions ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, d]) => [
          id,
          {
            id,
            ...(d.description !== undefined ? { description: d.description } : {}),
            planner: d.planner ?? defaults.planner ?? '',
            memory: d.memory ?? defaults.memory ?? '',
            tools: [...(d.tools ?? [])],
            limits: { ...d.limits },
            labels: { ...d.labels },
            options: { ...d.options },
            ...(d.instructions !== undefined ? { instructions: d.instructions } : {}),
            scope: new ToolScope(d.tools ?? []),
            approvals: new ApprovalPolicies(d.approval),
          },
        ]),
    );
  }

  /** Whether the config declares any agent: without agents, tasks run as before agents existed. */
  get declared(): boolean {
    return this.agents.size > 0;
  }

  list(): AgentInfo[] {
    return [...this.agents.values()].map(publicInfo);
  }

  get(id: string): AgentInfo {
    return publicInfo(this.resolve(id));
  }

  /** The whole agent, for the engine. Throws AGENT_NOT_FOUND naming the known ids. */
  resolve(id: string): ResolvedAgent {
    const agent = this.agents.get(id);
    if (!agent) throw agentNotFound(id, [...this.agents.keys()]);
    return agent;
  }
}

function publicInfo({ options: _o, instructions: _i, scope: _s, approvals: _a, ...info }: ResolvedAgent): AgentInfo {
  return info;
}

export function agentNotFound(id: string, known: string[]): OpspawnError {
  return new OpspawnError(
    ErrorCodes.AGENT_NOT_FOUND,
    `no agent '${id}' in this deployment; known agents: ${known.join(', ') || '(none declared)'}`,
    {
      hint: known.length
        ? `use one of: ${known.join(', ')}`
        : 'declare agents in the config (docs/how-to/define-agents.md), or leave agent unset',
      details: [{ path: 'agent', message: 'unknown agent' }],
    },
  );
}
