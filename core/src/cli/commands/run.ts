import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  ErrorCodes,
  OpspawnError,
  errorDefinition,
  services,
  type TaskEvent,
  type TaskStreamEvent,
} from '@opspawn/plugin-sdk';
import { bootKernel } from '../../boot.js';
import { createLogger } from '../../logging/create-logger.js';
import { TASK_KINDS } from '../../tasks/kernel-services.js';
import { ExitCodes } from '../exit-codes.js';
import type { GlobalOptions } from '../global-options.js';

/** Exit codes of `opspawn run`, by the task's outcome. */
export const RunExitCodes = {
  succeeded: ExitCodes.ok,
  failed: ExitCodes.taskFailed,
  cancelled: ExitCodes.taskCancelled,
  waiting: ExitCodes.taskWaiting,
} as const;

async function readTask(source: string): Promise<unknown> {
  let text: string;
  try {
    text = source === '-' ? await readStdin() : await readFile(source, 'utf8');
  } catch (error) {
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `cannot read ${source}: ${(error as Error).message}`, {
      hint: 'pass a task JSON file, or - to read standard input',
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new OpspawnError(
      ErrorCodes.INVALID_REQUEST,
      `${source === '-' ? 'standard input' : source} is not JSON: ${(error as Error).message}`,
      { hint: 'a task is {"goal": "...", "input": {...}}' },
    );
  }
}

/** The task request with `--agent` set on it, when given (a request that is not an object is left to the checks). */
export function withAgent(request: unknown, agent: string | undefined): unknown {
  if (agent === undefined || request === null || typeof request !== 'object' || Array.isArray(request)) return request;
  return { ...request, agent };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const short = (value: unknown, max = 120): string => {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
};

/** How to fix a task's error: its own hint when it carries one, else its code's default fix. */
export function fixFor(error: { code: string; hint?: string }): string {
  return error.hint ?? errorDefinition(error.code)?.hint ?? 'read the message; the host logs have the details';
}

/** One human line per event. */
export function describeEvent(event: TaskEvent): string | undefined {
  switch (event.type) {
    case 'status': {
      const { status, attempt, error, retryInMs } = event.data;
      return `• ${status}${attempt ? ` (attempt ${attempt})` : ''}${error ? `: ${error.code}: ${error.message}` : ''}${retryInMs !== undefined ? ` — retry in ${retryInMs} ms` : ''}${status === 'failed' && error ? ` (fix: ${fixFor(error)})` : ''}`;
    }
    case 'plan':
      return `▸ step ${event.data.step}${event.data.thought ? `: ${short(event.data.thought, 80)}` : ''}`;
    case 'tool_call':
      return `  → ${event.data.tool} ${short(event.data.arguments)}`;
    case 'tool_result': {
      const { tool, ok, output, error, durationMs } = event.data;
      return ok
        ? `  ✓ ${tool} ${short(output)} (${durationMs} ms)`
        : `  ✗ ${tool} ${error?.code}: ${short(error?.message)} (${durationMs} ms)`;
    }
    case 'final':
      return `= ${short(event.data.output, 400)}`;
    case 'log':
      return `  · [${event.data.level}] ${event.data.source ? `${event.data.source}: ` : ''}${short(event.data.message)}`;
    case 'handoff':
      return `  ⇢ agent ${event.data.agent}: task ${event.data.childId}${event.data.created ? '' : ' (started by an earlier attempt)'}`;
    case 'approval_requested': {
      const { tool, callId, arguments: args, expiresAt } = event.data;
      return `  ? ${tool} ${short(args)} waits for approval: opspawn tasks approve ${event.taskId} ${callId} (expires ${expiresAt})`;
    }
    case 'approval_decided': {
      const { callId, decision, by, note } = event.data;
      return `  ! call ${callId} ${decision === 'approve' ? 'approved' : 'rejected'} by ${by}${note ? `: ${short(note)}` : ''}`;
    }
    default:
      return unknownEvent(event);
  }
}

/**
 * Prints a task's events as they arrive: one line per stored event and, as a streaming planner generates it, the
 * answer's text without newlines, ended by a newline before the next line. `--json` prints the stored events only,
 * one JSON object a line, the same lines `GET /v1/tasks/{id}/events` replays (the text is in the `final` event).
 */
export class LiveEventPrinter {
  /** True while streamed text is on the current line. */
  streaming = false;

  constructor(private readonly options: { json: boolean; tty: boolean; out?: NodeJS.WritableStream }) {}

  print(event: TaskStreamEvent): void {
    const out = this.options.out ?? process.stdout;
    if (event.type === 'delta') {
      if (this.options.json || event.data.kind !== 'text') return;
      if (!this.streaming && this.options.tty) out.write('\r\x1b[K');
      out.write(event.data.text);
      this.streaming = true;
      return;
    }
    const line = this.options.json ? JSON.stringify(event) : describeEvent(event);
    if (!line) return;
    out.write(`${this.endText()}${this.options.tty ? '\r\x1b[K' : ''}${line}\n`);
  }

  /** Ends a line of streamed text, if one is open. */
  end(): void {
    (this.options.out ?? process.stdout).write(this.endText());
  }

  private endText(): string {
    if (!this.streaming) return '';
    this.streaming = false;
    return '\n';
  }
}

/**
 * A type this CLI does not know (a newer server's) prints nothing. Typed `never`, so an event type added to the
 * SDK and not described above fails to compile here.
 */
function unknownEvent(_event: never): undefined {
  return undefined;
}

export function registerRunCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('run <task>')
    .description(
      'run one task (a JSON file, or - for stdin) on the configured plugins in this process, printing its events as they happen',
    )
    .option('--json', 'print each event as one JSON line')
    .option('--agent <id>', "run the task with this agent (opspawn agents list); overrides the file's agent")
    .action(async (source: string, opts: { json?: boolean; agent?: string }) => {
      const request = withAgent(await readTask(source), opts.agent);
      const logger = createLogger({ level: 'warn', destination: process.stderr, format: globals().logFormat });
      // A one-shot run may share the store and the ports with a running host: it runs its own task as a worker,
      // starts no transport, and does not take over that host's tasks.
      const { kernel } = await bootKernel({
        configPath: globals().config,
        logger,
        role: 'worker',
        requiredKinds: TASK_KINDS,
        overrides: { tasks: { recoverOnStart: false, runScheduler: false } },
      });
      try {
        const tasks = kernel.get(services.taskService);
        const { task } = await tasks.submit(request as never);
        if (!opts.json) process.stdout.write(`task ${task.id}: ${short(task.goal, 100)}\n`);
        // Ctrl-C (or SIGTERM) cancels the task, so that it ends as `cancelled` in a store others may share, and the
        // plugins (MCP servers among them) are stopped; a second signal exits at once.
        const onSignal = (signal: NodeJS.Signals) => {
          process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
          process.once('SIGINT', () => process.exit(130)).once('SIGTERM', () => process.exit(143));
          process.stderr.write(`\n${signal}: cancelling task ${task.id} (again to exit at once)\n`);
          void tasks.cancel(task.id).catch(() => undefined);
        };
        process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
        const printer = new LiveEventPrinter({ json: Boolean(opts.json), tty: false });
        // A task waiting for approval stays in the store for a host to take the decision; this process has no API.
        const stop = new AbortController();
        for await (const event of tasks.watchLive(task.id, { signal: stop.signal })) {
          printer.print(event);
          if (event.type === 'status' && event.data.status === 'waiting_approval') stop.abort();
        }
        printer.end();
        const done = await tasks.get(task.id);
        if (done.status === 'waiting_approval')
          process.stderr.write(
            `task ${task.id} waits for approval: start a host on this deployment (opspawn start) and decide it with opspawn tasks approve|reject\n`,
          );
        process.exitCode =
          done.status === 'waiting_approval'
            ? RunExitCodes.waiting
            : done.status === 'succeeded'
              ? RunExitCodes.succeeded
              : done.status === 'cancelled'
                ? RunExitCodes.cancelled
                : RunExitCodes.failed;
      } finally {
        const errors = await kernel.stop();
        if (errors.length > 0 && process.exitCode === 0) process.exitCode = ExitCodes.stop;
      }
    });
}
