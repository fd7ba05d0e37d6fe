import { Option, type Command } from 'commander';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { bootKernel } from '../../boot.js';
import { PROCESS_ROLES, type ProcessRole } from '../../kernel/kernel-service.js';
import { TASK_KINDS } from '../../tasks/kernel-services.js';
import { TASK_DEFAULTS } from '../../tasks/task-defaults.js';
import { ExitCodes } from '../exit-codes.js';
import { reportFailure, table } from '../output.js';
import type { GlobalOptions } from '../global-options.js';

export function registerStartCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('start')
    .description('boot the host on the config and run until Ctrl-C (SIGINT) or SIGTERM')
    .addOption(
      new Option(
        '--role <role>',
        'all: APIs and workers in one process; api: transports only; worker: runs tasks, no transport',
      )
        .choices(PROCESS_ROLES as string[])
        .default(process.env.OPSPAWN_ROLE ?? 'all', '$OPSPAWN_ROLE, then all'),
    )
    .action((opts: { role: ProcessRole }) => runHost(globals, opts.role));

  program
    .command('worker')
    .description('run tasks from the broker without serving any API (same as start --role worker)')
    .action(() => runHost(globals, 'worker'));
}

/** Boots the kernel in `role` and keeps it up until SIGINT or SIGTERM; a second signal exits at once. */
async function runHost(globals: () => GlobalOptions, role: ProcessRole): Promise<void> {
  const { kernel, loaded, logger } = await bootKernel({
    configPath: globals().config,
    logFormat: globals().logFormat,
    role,
    requiredKinds: TASK_KINDS,
  });
  // With no server or worker holding the event loop, the host would exit at once: it stays up until told.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting without waiting for plugins to stop\n`);
        process.exit(130);
      }
      stopping = true;
      process.stderr.write(`\n${signal}: stopping plugins (Ctrl-C again to force)\n`);
      void kernel.stop().then((errors) => {
        for (const e of errors) reportFailure(e, false);
        process.stderr.write(errors.length ? `stopped with ${errors.length} error(s)\n` : 'stopped\n');
        process.exitCode = errors.length ? ExitCodes.stop : ExitCodes.ok;
        clearInterval(keepAlive);
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const report = kernel.report();
  process.stderr.write(
    `\nopspawn started in ${report.bootMs} ms from ${loaded.path}${role === 'all' ? '' : ` as ${role}`}\n`,
  );
  process.stderr.write(
    `${table(
      ['PLUGIN', 'VERSION', 'KINDS', 'STATUS', 'START'],
      report.plugins.map((p) => [
        p.id,
        p.version,
        p.kinds.join(','),
        p.status + (p.error ? ` (${p.error.code})` : ''),
        p.startMs === undefined ? '' : `${p.startMs} ms`,
      ]),
    )
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n')}\n`,
  );
  const transports = kernel.get(extensionPoints.transport);
  for (const t of transports)
    process.stderr.write(`  ${t.value.protocol} listening on ${t.value.addresses().join(', ')}\n`);
  if (role === 'worker')
    process.stderr.write(
      `  worker: running up to ${loaded.config.tasks?.concurrency ?? TASK_DEFAULTS.concurrency} tasks at once from the broker; no API in this process\n`,
    );
  else if (transports.length === 0)
    process.stderr.write('  no transport plugin is enabled: nothing outside this process can reach the host\n');
  if (role === 'api') process.stderr.write('  api: tasks submitted here run on worker processes (opspawn worker)\n');
  process.stderr.write('press Ctrl-C to stop\n\n');
  logger.info({ bootMs: report.bootMs, plugins: report.plugins }, 'startup report');

  await stopped;
}
