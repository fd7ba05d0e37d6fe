import type { ValidateFunction } from 'ajv';
import {
  ErrorCodes,
  describeError,
  isOpspawnError,
  type Logger,
  type Provided,
  type RegisteredTool,
  type ToolCallContext,
  type ToolObservation,
  type ToolProvider,
  type ToolRegistry,
} from '@opspawn/plugin-sdk';
import { AGENT_TOOL_PREFIX } from '../agents/tool-scope.js';
import { createAjv, describeAjvError } from '../config/ajv.js';

export interface ToolRegistryOptions {
  maxToolResultBytes: number;
  toolTimeoutMs: number;
}

interface Entry {
  tool: RegisteredTool;
  provider: ToolProvider;
  validate?: ValidateFunction;
}

const fail = (code: string, message: string): ToolObservation => ({ ok: false, error: { code, message } });

/**
 * Every tool provider's tools under one namespace each (`namespace__tool`). A call is checked against the tool's
 * schema before it runs, gets a deadline, and its result is size-capped; every failure becomes a failed
 * observation the planner can react to. A provider whose list fails hides only its own tools.
 */
export class KernelToolRegistry implements ToolRegistry {
  private entries?: Promise<Map<string, Entry>>;
  private readonly ajv = createAjv({ useDefaults: false });
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly providers: Provided<ToolProvider>[],
    private readonly options: ToolRegistryOptions,
    private readonly logger: Logger,
  ) {
    for (const { value } of providers) {
      const off = value.onChange?.(() => (this.entries = undefined));
      if (off) this.unsubscribe.push(off);
    }
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  async list(): Promise<RegisteredTool[]> {
    return [...(await this.load()).values()].map((e) => e.tool);
  }

  async call(
    name: string,
    args: unknown,
    ctx: Omit<ToolCallContext, 'deadline'> & { deadline?: number },
  ): Promise<ToolObservation> {
    const entry = (await this.load()).get(name);
    if (!entry) return fail(ErrorCodes.TOOL_NOT_FOUND, `no tool named '${name}'`);
    if (entry.validate && !entry.validate(args)) {
      const problems = (entry.validate.errors ?? []).map((e) => {
        const { path, message } = describeAjvError(e, 'arguments');
        return `${path} ${message}`;
      });
      return fail(
        ErrorCodes.TOOL_INVALID_ARGUMENTS,
        `arguments for '${name}' do not match its schema: ${problems.join('; ')}`,
      );
    }
    const deadline = Math.min(ctx.deadline ?? Infinity, Date.now() + this.options.toolTimeoutMs);
    const controller = new AbortController();
    const budget = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<ToolObservation>((resolve) => {
      timer = setTimeout(
        () => {
          controller.abort(new Error('tool deadline passed'));
          resolve(fail(ErrorCodes.TOOL_TIMEOUT, `tool '${name}' did not answer within ${budget} ms`));
        },
        Math.max(0, budget),
      );
    });
    // One listener per call: it aborts the tool's signal and ends the call as cancelled.
    let onAbort: (() => void) | undefined;
    const cancelled = new Promise<ToolObservation>((resolve) => {
      if (ctx.signal.aborted)
        return resolve(fail(ErrorCodes.TASK_CANCELLED, `tool '${name}' was not run: the task is stopping`));
      onAbort = () => {
        controller.abort(ctx.signal.reason);
        resolve(fail(ErrorCodes.TASK_CANCELLED, `tool '${name}' was aborted: the task is stopping`));
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([
        this.invoke(entry, name, args, { ...ctx, signal: controller.signal, deadline }),
        timedOut,
        cancelled,
      ]);
    } finally {
      clearTimeout(timer);
      // A task's signal outlives its many tool calls: every listener added here goes when the call ends.
      if (onAbort) ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  private async invoke(entry: Entry, name: string, args: unknown, ctx: ToolCallContext): Promise<ToolObservation> {
    try {
      const result = await entry.provider.call(name.slice(entry.provider.namespace.length + 2), args, ctx);
      const size = Buffer.byteLength(JSON.stringify(result.output ?? null) ?? 'null');
      if (size > this.options.maxToolResultBytes) {
        return fail(
          ErrorCodes.TOOL_RESULT_TOO_LARGE,
          `tool '${name}' returned ${size} bytes, more than the ${this.options.maxToolResultBytes} allowed`,
        );
      }
      if (result.isError) {
        const out = result.output as { code?: unknown; message?: unknown } | undefined;
        const code = typeof out?.code === 'string' ? out.code : ErrorCodes.TOOL_FAILED;
        const message = typeof out?.message === 'string' ? out.message : JSON.stringify(result.output);
        return fail(code, message);
      }
      return { ok: true, output: result.output ?? null };
    } catch (error) {
      return fail(
        isOpspawnError(error) ? error.code : ErrorCodes.TOOL_FAILED,
        `tool '${name}' failed: ${describeError(error)}`,
      );
    }
  }

  private load(): Promise<Map<string, Entry>> {
    this.entries ??= (async () => {
      const map = new Map<string, Entry>();
      await Promise.all(
        this.providers.map(async ({ plugin, value: provider }) => {
          if (`${provider.namespace}__` === AGENT_TOOL_PREFIX) {
            this.logger.error(
              { plugin },
              `tool provider '${plugin}' uses the namespace 'agents', which names agents called as tools; its tools are unavailable`,
            );
            return;
          }
          try {
            for (const spec of await provider.list()) {
              const name = `${provider.namespace}__${spec.name}`;
              let validate: ValidateFunction | undefined;
              try {
                validate = this.ajv.compile(spec.inputSchema ?? {});
              } catch (error) {
                this.logger.warn(
                  { plugin, tool: name, err: error },
                  `tool '${name}' has an invalid input schema; its arguments are not checked`,
                );
              }
              map.set(name, { tool: { ...spec, name, provider: plugin }, provider, validate });
            }
          } catch (error) {
            this.logger.error(
              { plugin, err: error },
              `tool provider '${plugin}' failed to list its tools; they are unavailable`,
            );
            this.entries = undefined;
          }
        }),
      );
      return map;
    })();
    return this.entries;
  }
}

/** What a scoped view needs to know of its agent. */
export interface ToolScopeOwner {
  id: string;
  tools: readonly string[];
  scope: { allows(tool: string): boolean };
}

/**
 * The tools one agent may use: `list` shows only the tools its scope allows, and a call outside the scope is
 * refused with TOOL_OUT_OF_SCOPE before anything runs (the agent loop records it as the call's `tool_result`).
 */
export class ScopedToolRegistry implements ToolRegistry {
  constructor(
    private readonly registry: ToolRegistry,
    private readonly agent: ToolScopeOwner,
  ) {}

  async list(): Promise<RegisteredTool[]> {
    return (await this.registry.list()).filter((t) => this.agent.scope.allows(t.name));
  }

  call(
    name: string,
    args: unknown,
    ctx: Omit<ToolCallContext, 'deadline'> & { deadline?: number },
  ): Promise<ToolObservation> {
    if (!this.agent.scope.allows(name)) {
      const scope = this.agent.tools.length ? this.agent.tools.join(', ') : 'no tools';
      return Promise.resolve(
        fail(
          ErrorCodes.TOOL_OUT_OF_SCOPE,
          `tool '${name}' is outside the scope of agent '${this.agent.id}' (its tools: ${scope}); the call did not run`,
        ),
      );
    }
    return this.registry.call(name, args, ctx);
  }
}
