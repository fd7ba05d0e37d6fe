import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  ErrorCodes,
  OpspawnError,
  isFinalStatus,
  isOpspawnError,
  type Task,
  type TaskStatus,
  type TokenUsage,
} from '@opspawn/plugin-sdk';
import { ApiError, RestClient } from '../../client/rest-client.js';
import { exitCodeFor } from '../exit-codes.js';
import type { GlobalOptions } from '../global-options.js';
import { HOST_URL_HELP, hostUrl } from '../host-url.js';
import { printJson, table } from '../output.js';
import { LiveEventPrinter, RunExitCodes, fixFor, withAgent } from './run.js';

export interface ClientOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** A client of the host that `--url`, `$OPSPAWN_URL` or the deployment's config names (`hostUrl`). */
export async function client(opts: ClientOptions, globals: GlobalOptions): Promise<RestClient> {
  return new RestClient({
    url: await hostUrl({ url: opts.url, config: globals.config }),
    token: opts.token ?? process.env.OPSPAWN_TOKEN,
  });
}

/** Runs a client command; an API refusal becomes one line (or JSON) and an exit code. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const opts = args[args.length - 2] as ClientOptions;
    try {
      await run(...args);
    } catch (error) {
      if (!isOpspawnError(error)) throw error;
      const exit = exitCodeFor(error);
      const api = error instanceof ApiError ? error : undefined;
      if (opts.json)
        printJson({
          ok: false,
          exitCode: exit,
          status: api?.status,
          code: error.code,
          message: error.message,
          hint: error.hint,
          errors: api?.errors,
        });
      else {
        process.stderr.write(`error ${error.toString()}\n`);
        for (const e of api?.errors ?? []) process.stderr.write(`  ${e.path}: ${e.message}\n`);
      }
      process.exitCode = exit;
    }
  };
}

export function withClientOptions(command: Command): Command {
  return command
    .option('--url <url>', HOST_URL_HELP)
    .option('--token <key>', 'API key (default: $OPSPAWN_TOKEN)')
    .option('--json', 'machine-readable output');
}

function taskLine(t: Task): string[] {
  return [t.id, t.status, String(t.attempts), t.createdAt, t.goal.length > 50 ? `${t.goal.slice(0, 49)}…` : t.goal];
}

/** A JSON option's value, or INVALID_REQUEST naming the option. */
function jsonOption(text: string, option: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `${option} is not JSON: ${(error as Error).message}`, {
      hint: `quote the JSON for your shell, e.g. ${option} '{"path":"/tmp/x"}'`,
    });
  }
}

export async function readRequest(source: string): Promise<unknown> {
  let text: string;
  try {
    text =
      source === '-'
        ? await new Promise<string>((resolve) => {
            let data = '';
            process.stdin.on('data', (d) => (data += d)).on('end', () => resolve(data));
          })
        : await readFile(source, 'utf8');
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

/**
 * Follows a task, one line per event and its answer's text as a streaming planner generates it (a spinner line while
 * waiting when stdout is a terminal); returns its outcome.
 */
async function follow(api: RestClient, id: string, json: boolean, afterSeq = 0): Promise<TaskStatus> {
  const tty = !json && process.stdout.isTTY;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let frame = 0;
  const printer = new LiveEventPrinter({ json, tty });
  // The spinner pauses while streamed text is on the line.
  const spinner = tty
    ? setInterval(() => {
        if (!printer.streaming) process.stdout.write(`\r${frames[frame++ % frames.length]} running…`);
      }, 100)
    : undefined;
  try {
    // --json prints the stored events only: no need to receive the deltas.
    for await (const event of json ? api.watch(id, afterSeq) : api.watchLive(id, afterSeq)) printer.print(event);
  } finally {
    clearInterval(spinner);
    printer.end();
    if (tty) process.stdout.write('\r\x1b[K');
  }
  return (await api.get(id)).status;
}

const outcome = (status: TaskStatus): number =>
  status === 'succeeded'
    ? RunExitCodes.succeeded
    : status === 'cancelled'
      ? RunExitCodes.cancelled
      : RunExitCodes.failed;

export function registerTaskCommands(program: Command, globals: () => GlobalOptions): void {
  const tasks = program
    .command('tasks')
    .description('submit, inspect, cancel and watch tasks on a running host (REST API)');

  withClientOptions(tasks.command('submit <task>').description('submit a task (a JSON file, or - for stdin)'))
    .option('--wait', 'follow the task live and exit with its outcome (0 succeeded, 10 failed, 11 cancelled)')
    .option('--idempotency-key <key>', 'the same key returns the same task')
    .option('--agent <id>', "run the task with this agent (GET /v1/agents); overrides the file's agent")
    .action(
      action(
        async (source: string, opts: ClientOptions & { wait?: boolean; idempotencyKey?: string; agent?: string }) => {
          const api = await client(opts, globals());
          const task = await api.submit(withAgent(await readRequest(source), opts.agent) as never, opts.idempotencyKey);
          if (opts.json && !opts.wait) printJson(task);
          else if (!opts.json) process.stdout.write(`${task.id} ${task.status}\n`);
          if (opts.wait) process.exitCode = outcome(await follow(api, task.id, Boolean(opts.json)));
        },
      ),
    );

  withClientOptions(tasks.command('get <id>').description('show one task: status, attempts, output or error')).action(
    action(async (id: string, opts: ClientOptions) => {
      const api = await client(opts, globals());
      const task = await api.get(id);
      if (opts.json) return printJson(task);
      const lines = [
        `${task.id}  ${task.status}  attempt ${task.attempts}/${task.maxAttempts}  planner ${task.planner}`,
        `  goal:    ${task.goal}`,
        task.agent ? `  agent:   ${task.agent}${task.parentId ? `  parent: ${task.parentId}` : ''}` : undefined,
        `  created: ${task.createdAt}${task.finishedAt ? `  finished: ${task.finishedAt}` : ''}`,
        Object.keys(task.labels).length
          ? `  labels:  ${Object.entries(task.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}`
          : undefined,
        task.output !== undefined ? `  output:  ${JSON.stringify(task.output)}` : undefined,
        task.usage ? `  usage:   ${describeUsage(task.usage)}` : undefined,
        task.error ? `  error:   ${task.error.code}: ${task.error.message}` : undefined,
        task.error && task.status === 'failed' ? `  fix:     ${fixFor(task.error)}` : undefined,
      ].filter(Boolean);
      process.stdout.write(`${lines.join('\n')}\n`);
    }),
  );

  withClientOptions(tasks.command('list').description('list tasks, newest first'))
    .option('--status <status...>', 'only these statuses')
    .option('--label <key=value...>', 'only tasks with these labels')
    .option('--parent <id>', 'only the children of this task (the tasks its agent handed off to)')
    .option('--limit <n>', 'page size (1..500)', (v) => Number(v))
    .option('--cursor <cursor>', 'the next page, from a previous list')
    .action(
      action(
        async (
          opts: ClientOptions & {
            status?: TaskStatus[];
            label?: string[];
            parent?: string;
            limit?: number;
            cursor?: string;
          },
        ) => {
          const labels = Object.fromEntries(
            (opts.label ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
          );
          const api = await client(opts, globals());
          const page = await api.list({
            status: opts.status,
            labels,
            parentId: opts.parent,
            limit: opts.limit,
            cursor: opts.cursor,
          });
          if (opts.json) return printJson(page);
          process.stdout.write(`${table(['ID', 'STATUS', 'ATTEMPTS', 'CREATED', 'GOAL'], page.tasks.map(taskLine))}\n`);
          if (page.nextCursor) process.stdout.write(`more: opspawn tasks list --cursor ${page.nextCursor}\n`);
        },
      ),
    );

  withClientOptions(tasks.command('cancel <id>').description('cancel a queued, running or waiting task')).action(
    action(async (id: string, opts: ClientOptions) => {
      const api = await client(opts, globals());
      const task = await api.cancel(id);
      if (opts.json) printJson(task);
      else
        process.stdout.write(
          `${task.id} ${isFinalStatus(task.status) ? task.status : `${task.status} (cancellation requested)`}\n`,
        );
    }),
  );

  for (const decision of ['approve', 'reject'] as const) {
    const command = withClientOptions(
      tasks
        .command(`${decision} <id> <callId>`)
        .description(
          decision === 'approve'
            ? 'approve the tool call a task waits on (status waiting_approval): the task resumes and runs it'
            : 'reject the tool call a task waits on: the task resumes and its planner sees the call refused',
        ),
    ).option('--note <text>', 'why; a rejected call carries it to the planner');
    if (decision === 'approve')
      command.option('--arguments <json>', "run the call with these arguments (JSON) instead of the planner's");
    command.action(
      action(async (id: string, callId: string, opts: ClientOptions & { note?: string; arguments?: string }) => {
        const api = await client(opts, globals());
        const task = await api.decide(id, callId, {
          decision,
          ...(opts.note !== undefined ? { note: opts.note } : {}),
          ...(opts.arguments !== undefined ? { arguments: jsonOption(opts.arguments, '--arguments') } : {}),
        });
        if (opts.json) printJson(task);
        else process.stdout.write(`${task.id} ${task.status} (call ${callId} ${decision}d)\n`);
      }),
    );
  }

  withClientOptions(
    tasks.command('watch <id>').description("print a task's events live until it ends; exit with its outcome"),
  )
    .option('--after <seq>', 'start after this event sequence number', (v) => Number(v), 0)
    .action(
      action(async (id: string, opts: ClientOptions & { after: number }) => {
        process.exitCode = outcome(await follow(await client(opts, globals()), id, Boolean(opts.json), opts.after));
      }),
    );
}

/** A task's token usage as people read it: `1,240 tokens in, 86 out, 3 LLM calls`. */
function describeUsage(usage: TokenUsage): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return `${n(usage.inputTokens)} tokens in, ${n(usage.outputTokens)} out, ${n(usage.llmCalls)} LLM call${usage.llmCalls === 1 ? '' : 's'}`;
}
