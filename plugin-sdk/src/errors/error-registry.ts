import type { ErrorCategory } from './error-categories.js';

/** One error code, as declared in the registry. */
export interface ErrorDeclaration {
  readonly category: ErrorCategory;
  /** What happened, in one line: the doc's first sentence about the code. */
  readonly description: string;
  /** The default fix, used when an error is raised without a more specific one. */
  readonly hint: string;
  /** Whether another attempt of the same task (or the same request) can succeed without a change. */
  readonly retryable: boolean;
}

/** A code's declaration with its code and where the errors reference documents it. */
export interface ErrorDefinition extends ErrorDeclaration {
  readonly code: ErrorCode;
  /** The anchor of the code's section in docs/reference/errors.md. */
  readonly docAnchor: string;
  /** The code's section in the published errors reference; REST problems use it as their `type`. */
  readonly docUrl: string;
}

/** The published errors reference: docs/reference/errors.md. */
export const ERRORS_DOC_URL = 'https://opspawn.dev/docs/reference/errors';

const declare = <const T extends Record<string, ErrorDeclaration>>(declarations: T): T => declarations;

/**
 * Every error code, declared once: its key `X` is the code `OPSPAWN_X`. The transports, the CLI and
 * docs/reference/errors.md (kept complete by test/plugin-sdk/errors-doc.test.ts) all read from here.
 */
export const ERROR_REGISTRY = declare({
  // configuration
  CONFIG_NOT_FOUND: {
    category: 'config',
    description: 'No config file where the CLI looked.',
    hint: 'run from your deployment folder, or pass --config <file>',
    retryable: false,
  },
  CONFIG_LOAD_FAILED: {
    category: 'config',
    description: 'The config file exists but importing it threw (a syntax error, a failing import).',
    hint: 'fix the syntax error or failing import in the config file',
    retryable: false,
  },
  CONFIG_INVALID: {
    category: 'config',
    description: 'The config loads but its shape is wrong: an unknown field, a wrong type, a bad value.',
    hint: 'opspawn config set <path> <value> for the field named in the message, or opspawn config unset <path> for an unknown one; see docs/reference/config.md',
    retryable: false,
  },
  CONFIG_ENV_MISSING: {
    category: 'config',
    description: 'The config names an environment variable (`${NAME}`) that is not set.',
    hint: 'export the variable before starting, or write ${NAME:-default} in the config',
    retryable: false,
  },
  CONFIG_NOT_EDITABLE: {
    category: 'config',
    description: 'The CLI cannot change this config for you: not a literal `plugins` array, or a JSON file.',
    hint: 'edit the plugins list by hand, or write plugins: [ ... ] as a literal list inside defineConfig',
    retryable: false,
  },
  CONFIG_PATH_INVALID: {
    category: 'config',
    description:
      'A path given to `opspawn config get/set/unset` names no place in the config: malformed, past the end of a list, a plugin the config does not declare, or a field of a plain value.',
    hint: 'spell the path as errors do (log.level, plugins.store-sqlite.options.path, plugins[2].enabled); opspawn config get shows what is there',
    retryable: false,
  },
  // plugin manifests and the graph, checked before any plugin code runs
  PLUGIN_NOT_FOUND: {
    category: 'plugin',
    description: 'A plugin named in the config or on the command line cannot be found.',
    hint: 'check the package name or path, and that the package is installed (npm install)',
    retryable: false,
  },
  PLUGIN_MANIFEST_INVALID: {
    category: 'plugin',
    description: "A plugin's package.json has no valid `opspawn` field.",
    hint: 'fix the "opspawn" field of its package.json (see docs/reference/plugin-manifest.md)',
    retryable: false,
  },
  PLUGIN_KERNEL_MISMATCH: {
    category: 'plugin',
    description: "A plugin's kernel range excludes this kernel's API version.",
    hint: 'install a version of the plugin built for this kernel (opspawn --version prints it)',
    retryable: false,
  },
  PLUGIN_DEPENDENCY_MISSING: {
    category: 'plugin',
    description: 'A plugin requires another plugin that is not in the config, or is disabled.',
    hint: 'opspawn plugins add <its package>, or opspawn plugins enable <id> when it is disabled',
    retryable: false,
  },
  PLUGIN_DEPENDENCY_VERSION: {
    category: 'plugin',
    description: "A required plugin's version is outside the range the requiring plugin accepts.",
    hint: 'install a version of the required plugin within the range named in the message',
    retryable: false,
  },
  PLUGIN_DUPLICATE: {
    category: 'plugin',
    description: 'Two config entries load plugins with the same id.',
    hint: 'remove one of the two: opspawn plugins remove <its package or path>',
    retryable: false,
  },
  PLUGIN_UNKNOWN_KIND: {
    category: 'plugin',
    description: 'A plugin declares a kind the kernel does not know.',
    hint: 'use one of the kinds: store, broker, planner, memory, tool-provider, transport',
    retryable: false,
  },
  PLUGIN_CYCLE: {
    category: 'plugin',
    description: 'Plugins require (or consume services of) each other in a cycle.',
    hint: 'break the cycle named in the message: one of them must not require the other',
    retryable: false,
  },
  PLUGIN_OPTIONS_INVALID: {
    category: 'plugin',
    description: "A plugin's options in the config fail its config schema.",
    hint: "fix the option named in the message; see the options table in the plugin's README",
    retryable: false,
  },
  KIND_AMBIGUOUS: {
    category: 'plugin',
    description: 'Several enabled plugins provide a kind of which exactly one may be active (store, broker).',
    hint: 'choose one: opspawn plugins use <id> --as <kind>',
    retryable: false,
  },
  KIND_CHOICE_INVALID: {
    category: 'plugin',
    description: 'The config chooses a provider for a kind that no enabled plugin of that kind has.',
    hint: 'opspawn plugins use <an enabled provider> --as <kind>, or opspawn plugins add <a plugin of that kind>',
    retryable: false,
  },
  KIND_MISSING: {
    category: 'plugin',
    description: 'No enabled plugin provides a kind the host needs to run tasks (a store, a broker).',
    hint: 'opspawn plugins add @opspawn/store-sqlite && opspawn plugins add @opspawn/broker-memory (the message names what is missing)',
    retryable: false,
  },
  // plugin code: loading, register, start, stop
  PLUGIN_LOAD_FAILED: {
    category: 'plugin',
    description: "A plugin's entry file cannot be imported, or does not export a plugin.",
    hint: 'build the plugin and install its dependencies; its entry must export default definePlugin({ ... })',
    retryable: false,
  },
  PLUGIN_REGISTER_FAILED: {
    category: 'plugin',
    description: "A plugin's register step threw.",
    hint: "fix the plugin's register function, or report it to the plugin's authors",
    retryable: false,
  },
  PLUGIN_UNDECLARED_KIND: {
    category: 'plugin',
    description: 'A plugin provides a service of a kind its manifest does not declare.',
    hint: 'add the kind to "opspawn.kinds" in its package.json',
    retryable: false,
  },
  HTTP_ROUTES_INVALID: {
    category: 'plugin',
    description:
      "A plugin's HTTP routes cannot be mounted on the REST port: a malformed prefix, one transport-rest serves, one another plugin claims, or a route outside its prefix.",
    hint: 'give each plugin its own one-segment prefix (e.g. /metrics) and keep its routes under it',
    retryable: false,
  },
  SERVICE_MISSING: {
    category: 'plugin',
    description: 'A plugin needs a service nothing in this deployment provides.',
    hint: 'add a plugin that provides the service',
    retryable: false,
  },
  PLUGIN_START_FAILED: {
    category: 'boot',
    description: "A plugin's start step failed (a service it connects to is down, a bad option).",
    hint: 'read the cause in the message; fix what the plugin connects to, or its options',
    retryable: true,
  },
  PLUGIN_START_TIMEOUT: {
    category: 'boot',
    description: "A plugin's start step did not finish within its start timeout.",
    hint: 'find what its start waits on, or give it longer: opspawn config set plugins.<id>.startTimeoutMs <ms>',
    retryable: true,
  },
  PLUGIN_STOP_FAILED: {
    category: 'stop',
    description: "A plugin's stop step failed or timed out.",
    hint: 'read the cause in the message; the other plugins were still stopped',
    retryable: false,
  },
  // plugin management from the CLI
  PLUGIN_INSTALL_FAILED: {
    category: 'plugin',
    description: 'npm could not install or update a plugin, or the installed package is refused.',
    hint: 'check the package name, version or path, and that the npm registry can be reached',
    retryable: false,
  },
  SCAFFOLD_INVALID: {
    category: 'invalid',
    description: '`opspawn plugins new` was given a bad name, kind or folder.',
    hint: 'use a lower-case name (letters, digits, -), a known kind, and an empty or new folder',
    retryable: false,
  },
  // tasks
  TASK_NOT_FOUND: {
    category: 'not_found',
    description: 'No task has this id.',
    hint: 'check the id; opspawn tasks list shows the tasks there are',
    retryable: false,
  },
  TASK_INVALID: {
    category: 'invalid',
    description: 'A task request fails the task schema; the field problems are listed with it.',
    hint: 'fix the fields listed; see docs/reference/task-model.md',
    retryable: false,
  },
  TASK_NOT_CANCELLABLE: {
    category: 'wrong_state',
    description: 'The task has already finished, so it cannot be cancelled.',
    hint: 'only queued, running or waiting tasks can be cancelled',
    retryable: false,
  },
  APPROVAL_NOT_FOUND: {
    category: 'not_found',
    description: 'The task never asked for approval of a call with this id.',
    hint: "check the call id: the task's approval_requested events name the calls that wait",
    retryable: false,
  },
  APPROVAL_NOT_WAITING: {
    category: 'wrong_state',
    description: 'The call is not waiting for a decision: it was decided already, it expired, or the task moved on.',
    hint: 'read the task and its approval_decided events; a call is decided once',
    retryable: false,
  },
  APPROVAL_EXPIRED: {
    category: 'task_failed',
    description: 'A tool call waited for approval longer than its policy allows (`expiresInMs`, default 24 h).',
    hint: 'submit the task again and decide within the time, or raise expiresInMs in the agent approval policy',
    retryable: false,
  },
  TOOL_CALL_REJECTED: {
    category: 'task_failed',
    description: "A person rejected the tool call; the planner sees this error as the call's result.",
    hint: 'nothing: the planner decides what to do without the call; read the note of the approval_decided event',
    retryable: false,
  },
  IDEMPOTENCY_CONFLICT: {
    category: 'conflict',
    description: 'An idempotency key already used for a different request.',
    hint: 'use a new key for a new request; send the same key only with the same request',
    retryable: false,
  },
  AGENT_NOT_FOUND: {
    category: 'not_found',
    description: 'A task or a request names an agent the deployment does not declare.',
    hint: 'use one of the agent ids listed in the message (opspawn agents list), or leave agent unset',
    retryable: false,
  },
  SCHEDULE_NOT_FOUND: {
    category: 'not_found',
    description: 'No schedule has this id.',
    hint: 'check the id; opspawn schedules list shows the schedules there are',
    retryable: false,
  },
  SCHEDULE_INVALID: {
    category: 'invalid',
    description:
      'A schedule fails its schema: an invalid cron expression or time zone, both or neither of cron and everyMs, a bad task request; the fields are listed with it.',
    hint: 'fix the fields listed; see docs/how-to/run-agents-on-a-schedule.md',
    retryable: false,
  },
  SCHEDULE_EXISTS: {
    category: 'conflict',
    description: 'A schedule is created with an id another schedule has.',
    hint: 'pick another id, or leave id out to get a generated one',
    retryable: false,
  },
  SCHEDULE_READ_ONLY: {
    category: 'wrong_state',
    description: 'An API call tries to change or delete a schedule declared in the config.',
    hint: 'change it in opspawn.config (the config wins at each start); pause and resume work over the API',
    retryable: false,
  },
  SCHEDULES_UNSUPPORTED: {
    category: 'config',
    description:
      "The deployment's store keeps no schedules, yet the config declares some or an API call asks for them.",
    hint: 'use a store that keeps schedules (store-sqlite, store-postgres, store-memory)',
    retryable: false,
  },
  AGENT_INVALID: {
    category: 'config',
    description:
      'An agent in the config names a planner or memory no enabled plugin provides, or a tool pattern that is not a name or glob.',
    hint: 'fix the field named in the message (e.g. agents.researcher.tools[1]); see docs/how-to/define-agents.md',
    retryable: false,
  },
  PLANNER_UNKNOWN: {
    category: 'invalid',
    description: 'A task names a planner no enabled plugin provides.',
    hint: 'use one of the planners the host has enabled, or leave planner unset for the default',
    retryable: false,
  },
  MEMORY_UNKNOWN: {
    category: 'invalid',
    description: 'A task names a memory no enabled plugin provides.',
    hint: 'use one of the memories the host has enabled, or leave memory unset for the default',
    retryable: false,
  },
  PLANNER_FAILED: {
    category: 'task_failed',
    description: "The task's planner failed (a model API error, a scripted step that failed).",
    hint: "read the cause in the message; check the planner's options (model, URL, key)",
    retryable: true,
  },
  PLANNER_INVALID_DECISION: {
    category: 'task_failed',
    description: 'The planner answered with something that is neither tool calls nor a final answer.',
    hint: "check the planner's model and instructions; a model without tool calling cannot plan",
    retryable: true,
  },
  TASK_TIMEOUT: {
    category: 'timeout',
    description: 'The task did not finish within its timeout; the running attempt was aborted.',
    hint: 'raise timeoutMs for the task',
    retryable: true,
  },
  TASK_CANCELLED: {
    category: 'cancelled',
    description: 'The task was cancelled on request.',
    hint: 'submit the task again if you still want its answer',
    retryable: false,
  },
  TASK_MAX_STEPS: {
    category: 'task_failed',
    description: 'The task used all its steps without a final answer.',
    hint: 'raise maxSteps, or check why the planner does not finish',
    retryable: false,
  },
  TASK_STALLED: {
    category: 'task_failed',
    description: 'The worker running an attempt stopped (shut down or died) before the attempt ended.',
    hint: 'nothing, if it runs again; if every attempt stalls, find what kills the worker (memory, a crash)',
    retryable: true,
  },
  TASK_INTERNAL: {
    category: 'internal',
    description: 'The task failed for a reason no plugin explained: a bug, or an inconsistent store.',
    hint: 'this is a bug; report it with the task id and the host logs',
    retryable: true,
  },
  BROKER_UNAVAILABLE: {
    category: 'unavailable',
    description: 'The broker (e.g. Redis for broker-bee-queue) cannot be reached.',
    hint: "check that the broker's service (e.g. Redis) runs and the broker's url option points at it; retry later",
    retryable: true,
  },
  STORE_UNAVAILABLE: {
    category: 'unavailable',
    description: 'The task store (e.g. PostgreSQL for store-postgres) cannot be reached.',
    hint: "check that the store's database runs and its connection option points at it; retry later",
    retryable: true,
  },
  // tools
  TOOL_NOT_FOUND: {
    category: 'not_found',
    description: 'A tool call names a tool no provider has.',
    hint: 'call one of the listed tools, by its namespaced name (provider__tool)',
    retryable: false,
  },
  TOOL_OUT_OF_SCOPE: {
    category: 'forbidden',
    description: "A task's agent called a tool outside its tool scope; the call did not run.",
    hint: "call one of the agent's tools, or add the tool (or a glob matching it) to the agent's tools in the config",
    retryable: false,
  },
  TOOL_INVALID_ARGUMENTS: {
    category: 'invalid',
    description: "A tool call's arguments fail the tool's input schema.",
    hint: "pass arguments matching the tool's input schema (listed with the tool)",
    retryable: false,
  },
  TOOL_FAILED: {
    category: 'task_failed',
    description: 'A tool ran and threw, or reported an error.',
    hint: "read the tool's message; fix the arguments or what the tool depends on",
    retryable: true,
  },
  TOOL_TIMEOUT: {
    category: 'timeout',
    description: 'A tool call did not finish before its deadline and was aborted.',
    hint: "raise the tool provider's timeout option, or give the task more time",
    retryable: true,
  },
  TOOL_RESULT_TOO_LARGE: {
    category: 'too_large',
    description: "A tool's result is larger than the provider accepts.",
    hint: "make the tool return less, or raise the provider's result size limit",
    retryable: false,
  },
  TOOL_OUT_OF_MEMORY: {
    category: 'task_failed',
    description: 'A sandboxed tool used more memory than its limit; its runtime was discarded.',
    hint: "raise the tool's memory limit in tools-quickjs options, or make it use less memory",
    retryable: false,
  },
  TOOL_STACK_OVERFLOW: {
    category: 'task_failed',
    description: "A sandboxed tool recursed deeper than the sandbox's stack allows.",
    hint: "raise the tool's stack limit in tools-quickjs options, or recurse less deeply",
    retryable: false,
  },
  TOOL_OUTPUT_NOT_JSON: {
    category: 'task_failed',
    description: 'A sandboxed tool returned something that is not JSON (a function, a cycle, undefined).',
    hint: 'return plain JSON values (objects, arrays, strings, numbers, booleans, null)',
    retryable: false,
  },
  TOOL_NEVER_SETTLES: {
    category: 'task_failed',
    description: 'A sandboxed tool returned a promise that can never settle (nothing pending can resolve it).',
    hint: 'resolve or reject the promise the tool returns; await only the capabilities it was granted',
    retryable: false,
  },
  TOOL_LOAD_FAILED: {
    category: 'task_failed',
    description: 'A sandboxed tool file does not load, or does not export a valid tool.',
    hint: "fix the tool's source; a tool exports its name, description, input schema and run function",
    retryable: false,
  },
  TOOL_SANDBOX_CRASHED: {
    category: 'task_failed',
    description: 'The sandbox worker running a tool died; a fresh one takes the next call.',
    hint: 'call again; if it keeps crashing, report it with the tool source',
    retryable: true,
  },
  // handoffs: an agent calling another agent as a tool
  HANDOFF_FAILED: {
    category: 'task_failed',
    description:
      'An agent handed off to another agent and the child task failed or was cancelled; the message names the child task and carries its error.',
    hint: 'look at the child task (opspawn tasks get <id>, or tasks list --parent <parent id>) for why it failed',
    retryable: false,
  },
  HANDOFF_DEPTH_EXCEEDED: {
    category: 'task_failed',
    description: 'A task already tasks.maxHandoffDepth handoffs below a top-level task tried to hand off again.',
    hint: 'let this agent answer itself, or raise tasks.maxHandoffDepth in the config',
    retryable: false,
  },
  HANDOFF_FAN_OUT_EXCEEDED: {
    category: 'task_failed',
    description: 'A task tried to start more child tasks by handing off than tasks.maxChildren allows.',
    hint: 'hand off less often (one child can answer several questions), or raise tasks.maxChildren in the config',
    retryable: false,
  },
  AGENT_HANDOFF_CYCLE: {
    category: 'config',
    description: 'Agents in the config hand off in a cycle: following their agents__ tools leads back to an agent.',
    hint: "remove one agent from the other's tools (a glob such as agents__* also matches the agent itself)",
    retryable: false,
  },
  // callers
  UNAUTHENTICATED: {
    category: 'unauthenticated',
    description: 'The request carries no API key, or one the host does not know.',
    hint: 'send a key from the deployment config: Authorization: Bearer <key> (--token or $OPSPAWN_TOKEN)',
    retryable: false,
  },
  FORBIDDEN: {
    category: 'forbidden',
    description: 'The API key lacks the scope the request needs.',
    hint: 'use a key with the scope named in the message, or give this key that scope',
    retryable: false,
  },
  INVALID_REQUEST: {
    category: 'invalid',
    description: 'A request is malformed: a bad filter, limit or cursor, a task file that is not JSON.',
    hint: 'fix the parameter named in the message',
    retryable: false,
  },
  NOT_FOUND: {
    category: 'not_found',
    description: 'No API route has this path.',
    hint: 'check the path against docs/reference/rest-api.md',
    retryable: false,
  },
  METHOD_NOT_ALLOWED: {
    category: 'method_not_allowed',
    description: 'The route exists but does not accept this HTTP method.',
    hint: 'use a method the route accepts (its Allow header lists them)',
    retryable: false,
  },
  BODY_TOO_LARGE: {
    category: 'too_large',
    description: "The request body is larger than the transport's maxBodyBytes.",
    hint: 'send a smaller body, or raise maxBodyBytes in the transport-rest options',
    retryable: false,
  },
  UNSUPPORTED_MEDIA_TYPE: {
    category: 'unsupported_media_type',
    description: 'The request body is not application/json.',
    hint: 'send the body as JSON with Content-Type: application/json',
    retryable: false,
  },
  MALFORMED_JSON: {
    category: 'invalid',
    description: 'The request body is not valid JSON.',
    hint: 'send a valid JSON object',
    retryable: false,
  },
  UNREACHABLE: {
    category: 'unavailable',
    description: 'The CLI or client cannot reach the host at its URL.',
    hint: 'start the host (opspawn start), or point --url / $OPSPAWN_URL at it',
    retryable: true,
  },
  MCP_SESSION_NOT_FOUND: {
    category: 'not_found',
    description:
      'An MCP request names a session (Mcp-Session-Id) the host does not have: closed, idle too long, or the host restarted.',
    hint: 'start a new session: send initialize again (MCP clients do so when a request answers 404)',
    retryable: false,
  },
  INTERNAL: {
    category: 'internal',
    description: 'The server failed to handle a request for a reason it did not expect; details are in its logs.',
    hint: 'this is a bug; report it with what you ran and the logs',
    retryable: true,
  },
});

type ErrorKey = keyof typeof ERROR_REGISTRY & string;

/** Every code by its key: `ErrorCodes.TASK_NOT_FOUND === 'OPSPAWN_TASK_NOT_FOUND'`. */
export const ErrorCodes = Object.fromEntries(Object.keys(ERROR_REGISTRY).map((key) => [key, `OPSPAWN_${key}`])) as {
  readonly [K in ErrorKey]: `OPSPAWN_${K}`;
};

export type ErrorCode = (typeof ErrorCodes)[ErrorKey];

const DEFINITIONS = new Map<string, ErrorDefinition>(
  Object.entries(ERROR_REGISTRY).map(([key, declaration]) => {
    const code = `OPSPAWN_${key}` as ErrorCode;
    const docAnchor = code.toLowerCase();
    return [code, { ...declaration, code, docAnchor, docUrl: `${ERRORS_DOC_URL}#${docAnchor}` }];
  }),
);

/** Every code's definition, in declaration order. */
export function errorDefinitions(): ErrorDefinition[] {
  return [...DEFINITIONS.values()];
}

/** The definition of a code; undefined for a string no registry entry declares. */
export function errorDefinition(code: string): ErrorDefinition | undefined {
  return DEFINITIONS.get(code);
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && DEFINITIONS.has(value);
}

/** The category of a code; a code this registry does not declare counts as `internal`. */
export function errorCategory(code: string): ErrorCategory {
  return DEFINITIONS.get(code)?.category ?? 'internal';
}

/** Whether another attempt can succeed after a failure with this code; an undeclared code counts as retryable. */
export function isRetryable(code: string): boolean {
  return DEFINITIONS.get(code)?.retryable ?? true;
}
