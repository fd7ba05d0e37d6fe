import type { AgentInfo, Task } from '@opspawn/plugin-sdk';
import * as z from 'zod';
import type { TaskApi } from './task-api.js';
import { agentToolName } from './task-tool-names.js';
import {
  answerTask,
  jsonSchema,
  parse,
  publicTask,
  runTask,
  taskOutput,
  type TaskTool,
  type TaskToolOptions,
  type ToolAnswer,
} from './task-tools.js';

const agentArgs = z
  .object({
    goal: z.string().min(1).max(10_000).describe('What the agent should achieve'),
    input: z.unknown().optional().describe('Free-form JSON handed to the agent with the goal'),
  })
  .strict();

/**
 * One tool per agent, `agent_<id>`: it runs a task of that agent as `run_task` runs one (progress per step, the same
 * wait limit, cancelling the call cancels the task) and answers with the task's output. Two ids that map to the
 * same tool name keep the first, so a name always reaches one agent.
 */
export function agentTools(agents: AgentInfo[], api: TaskApi, options: TaskToolOptions): TaskTool[] {
  const seen = new Set<string>();
  return agents.flatMap((agent): TaskTool[] => {
    const name = agentToolName(agent.id);
    if (seen.has(name)) return [];
    seen.add(name);
    return [
      {
        name,
        title: `Agent ${agent.id}`,
        description:
          `${agent.description ?? `Runs the agent ${agent.id}.`} Runs a task of agent '${agent.id}' for the goal ` +
          `and returns its output, with a progress notification per step when asked for progress. After ` +
          `${Math.round(options.waitLimitMs / 1000)} s it returns the task still running instead of holding the ` +
          'call: follow it with get_task or the resource opspawn://tasks/{id}. Cancelling the call cancels the task.',
        inputSchema: jsonSchema(agentArgs),
        outputSchema: taskOutput,
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
        call: (args, context) => {
          const { goal, input } = parse(agentArgs, args);
          return runTask(
            api,
            { goal, ...(input === undefined ? {} : { input }), agent: agent.id },
            context,
            options.waitLimitMs,
            answerOutput,
          );
        },
      },
    ];
  });
}

/** A succeeded agent task answers with its output first (what the calling model wants), then the task's id. */
function answerOutput(task: Task): ToolAnswer {
  if (task.status !== 'succeeded') return answerTask(task);
  const output = typeof task.output === 'string' ? task.output : JSON.stringify(task.output ?? null);
  return { structured: { task: publicTask(task) }, text: `${output}\n(task ${task.id}, ${task.status})` };
}
