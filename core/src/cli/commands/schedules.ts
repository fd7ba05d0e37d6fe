import type { Command } from 'commander';
import { ErrorCodes, OpspawnError, type CreateScheduleRequest, type Schedule } from '@opspawn/plugin-sdk';
import type { GlobalOptions } from '../global-options.js';
import { printJson, table } from '../output.js';
import { action, client, readRequest, withClientOptions, type ClientOptions } from './tasks.js';

interface ScheduleFlags {
  id?: string;
  agent?: string;
  cron?: string;
  timezone?: string;
  every?: number;
  goal?: string;
  input?: string;
  label?: string[];
  missed?: 'skip' | 'catch_up_one';
  overlap?: 'skip' | 'allow';
  paused?: boolean;
}

/**
 * A create request from a JSON file (or -) and flags, flags winning. The server checks it (an invalid cron expression
 * or time zone is a 400 naming the field, exit 2); only what a flag itself cannot mean is refused here.
 */
async function scheduleRequest(file: string | undefined, flags: ScheduleFlags): Promise<CreateScheduleRequest> {
  const base = (file ? await readRequest(file) : {}) as Partial<CreateScheduleRequest>;
  const task = { ...(base.task ?? {}) } as CreateScheduleRequest['task'];
  if (flags.goal !== undefined) task.goal = flags.goal;
  if (flags.input !== undefined) task.input = parseJson(flags.input, '--input');
  if (flags.label?.length) task.labels = { ...task.labels, ...labels(flags.label) };
  return {
    ...base,
    ...(flags.id !== undefined ? { id: flags.id } : {}),
    ...(flags.agent !== undefined ? { agent: flags.agent } : {}),
    ...(flags.cron !== undefined ? { cron: flags.cron } : {}),
    ...(flags.timezone !== undefined ? { timezone: flags.timezone } : {}),
    ...(flags.every !== undefined ? { everyMs: flags.every } : {}),
    ...(flags.missed !== undefined ? { missed: flags.missed } : {}),
    ...(flags.overlap !== undefined ? { overlap: flags.overlap } : {}),
    ...(flags.paused ? { paused: true } : {}),
    task,
  } as CreateScheduleRequest;
}

function parseJson(text: string, flag: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `${flag} is not JSON: ${(error as Error).message}`, {
      hint: `${flag} '{"key": "value"}'`,
    });
  }
}

function labels(pairs: string[]): Record<string, string> {
  return Object.fromEntries(pairs.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function timing(s: Schedule): string {
  return s.cron !== undefined ? `cron ${s.cron} (${s.timezone ?? 'UTC'})` : `every ${s.everyMs} ms`;
}

function scheduleLine(s: Schedule): string[] {
  return [s.id, s.source, s.paused ? 'paused' : 'active', timing(s), s.paused ? '-' : s.nextDueAt, String(s.fires)];
}

function printSchedule(s: Schedule, json: boolean | undefined): void {
  if (json) {
    printJson(s);
    return;
  }
  const lines = [
    `${s.id}  ${s.paused ? 'paused' : 'active'}  ${timing(s)}  (${s.source})`,
    `  agent:    ${s.agent ?? '(default)'}  goal: ${s.task.goal}`,
    `  policies: missed ${s.missed}, overlap ${s.overlap}`,
    `  next due: ${s.nextDueAt}${s.paused ? ' (paused)' : ''}`,
    `  fired:    ${s.fires}${s.lastTaskId ? `, last task ${s.lastTaskId}` : ''}; skipped: ${s.skips}`,
    s.lastSkip
      ? `  skipped:  ${s.lastSkip.dueAt} (${s.lastSkip.reason}${s.lastSkip.detail ? `: ${s.lastSkip.detail}` : ''})`
      : undefined,
  ].filter(Boolean);
  process.stdout.write(`${lines.join('\n')}\n`);
}

const every = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n))
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `--every must be milliseconds, got '${v}'`);
  return n;
};

export function registerScheduleCommands(program: Command, globals: () => GlobalOptions): void {
  const schedules = program
    .command('schedules')
    .description('list, create, pause, resume and delete schedules on a running host (REST API)');

  withClientOptions(schedules.command('list').description('every schedule, with its next due time')).action(
    action(async (opts: ClientOptions) => {
      const api = await client(opts, globals());
      const all = await api.schedules();
      if (opts.json) return printJson({ schedules: all });
      process.stdout.write(
        `${table(['ID', 'SOURCE', 'STATE', 'TIMING', 'NEXT DUE', 'FIRES'], all.map(scheduleLine))}\n`,
      );
    }),
  );

  withClientOptions(schedules.command('get <id>').description('one schedule: timing, policies, last fire')).action(
    action(async (id: string, opts: ClientOptions) => {
      const api = await client(opts, globals());
      printSchedule(await api.schedule(id), opts.json);
    }),
  );

  withClientOptions(
    schedules
      .command('create [file]')
      .description('create a schedule from a JSON file (or -) and/or flags; flags win over the file'),
  )
    .option('--id <id>', 'its id (default: generated)')
    .option('--agent <id>', 'the agent its tasks run')
    .option('--cron <expression>', "a cron expression, e.g. '0 3 * * *' (6 fields: seconds first)")
    .option('--timezone <zone>', 'IANA time zone of the cron expression (default UTC)')
    .option('--every <ms>', 'a fixed interval in milliseconds instead of --cron', every)
    .option('--goal <text>', 'the goal of each task')
    .option('--input <json>', 'the input of each task, as JSON')
    .option('--label <key=value...>', 'labels of each task')
    .option('--missed <policy>', 'skip | catch_up_one: what to do with due times missed while no host ran')
    .option('--overlap <policy>', 'skip | allow: fire while the previous task still runs?')
    .option('--paused', 'create it paused')
    .action(
      action(async (file: string | undefined, opts: ClientOptions & ScheduleFlags) => {
        const api = await client(opts, globals());
        const schedule = await api.createSchedule(await scheduleRequest(file, opts));
        if (opts.json) printJson(schedule);
        else
          process.stdout.write(`${schedule.id} next due ${schedule.nextDueAt}${schedule.paused ? ' (paused)' : ''}\n`);
      }),
    );

  withClientOptions(schedules.command('delete <id>').description('delete a schedule made over the API')).action(
    action(async (id: string, opts: ClientOptions) => {
      const api = await client(opts, globals());
      await api.deleteSchedule(id);
      if (opts.json) printJson({ ok: true, id });
      else process.stdout.write(`${id} deleted\n`);
    }),
  );

  for (const verb of ['pause', 'resume'] as const)
    withClientOptions(
      schedules
        .command(`${verb} <id>`)
        .description(verb === 'pause' ? 'stop firing until resumed' : 'fire again, from the next due time after now'),
    ).action(
      action(async (id: string, opts: ClientOptions) => {
        const api = await client(opts, globals());
        const schedule = await api.scheduleAction(id, verb);
        if (opts.json) printJson(schedule);
        else
          process.stdout.write(
            `${schedule.id} ${schedule.paused ? 'paused' : `active, next due ${schedule.nextDueAt}`}\n`,
          );
      }),
    );
}
