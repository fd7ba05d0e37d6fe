import type { ToolObservation } from '../extension-points/planner.js';
import type { ToolCallContext, ToolSpec } from '../extension-points/tool-provider.js';

/** A tool with its namespaced name and the provider it came from. */
export interface RegisteredTool extends ToolSpec {
  /** `namespace__name`. */
  name: string;
  provider: string;
}

/**
 * All tool providers merged. `call` validates arguments against the tool's schema, applies the deadline and the
 * result-size cap, and turns every failure into a failed observation instead of throwing.
 */
export interface ToolRegistry {
  list(): Promise<RegisteredTool[]>;
  call(
    name: string,
    args: unknown,
    ctx: Omit<ToolCallContext, 'deadline'> & { deadline?: number },
  ): Promise<ToolObservation>;
}
