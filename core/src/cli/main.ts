#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { KERNEL_API_VERSION } from '@opspawn/plugin-sdk';
import { CORE_VERSION } from '../version.js';
import { registerAgentCommands } from './commands/agents.js';
import { registerConfigCommands } from './commands/config.js';
import { registerMcpCommand } from './commands/mcp.js';
import { registerPluginCommands } from './commands/plugins.js';
import { registerRunCommand } from './commands/run.js';
import { registerScheduleCommands } from './commands/schedules.js';
import { registerTaskCommands } from './commands/tasks.js';
import { registerStartCommand } from './commands/start.js';
import { CONFIG_FILE_PATTERN } from '../config/load-config.js';
import { LOG_FORMATS } from '../logging/create-logger.js';
import { ExitCodes } from './exit-codes.js';
import type { GlobalOptions } from './global-options.js';
import { reportFailure } from './output.js';

const program = new Command('opspawn')
  .description('Opspawn: a plugin-based host for AI-agent tasks')
  .version(`opspawn ${CORE_VERSION} (kernel API ${KERNEL_API_VERSION})`, '-v, --version')
  .option('-c, --config <file>', `config file (default: $OPSPAWN_CONFIG, then ./${CONFIG_FILE_PATTERN})`)
  .addOption(
    new Option(
      '--log-format <format>',
      'pretty: a readable line per log entry; json: JSON lines (default: $OPSPAWN_LOG_FORMAT, then pretty on a terminal)',
    ).choices(LOG_FORMATS as unknown as string[]),
  )
  .showSuggestionAfterError()
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
registerStartCommand(program, globals);
registerPluginCommands(program, globals);
registerConfigCommands(program, globals);
registerAgentCommands(program, globals);
registerRunCommand(program, globals);
registerTaskCommands(program, globals);
registerScheduleCommands(program, globals);
registerMcpCommand(program, globals);
program.addHelpText(
  'after',
  '\nExit codes: 0 ok, 2 usage, 3 config, 4 plugin check, 5 plugin start, 6 plugin stop, 1 bug;\nrun: 0 succeeded, 10 failed, 11 cancelled.\nDocs: docs/reference/cli.md',
);

const wantsJson = process.argv.includes('--json');
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = error.exitCode === 0 ? ExitCodes.ok : ExitCodes.usage;
  } else {
    process.exitCode = reportFailure(error, wantsJson);
  }
}
