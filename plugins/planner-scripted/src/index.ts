import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { ScriptedPlanner } from './scripted-planner.js';

export { ScriptedPlanner } from './scripted-planner.js';
export { validatePlan, type Plan, type PlannedCall } from './plan.js';
export { render } from './templates.js';

/** The scripted planner takes no options: everything it does is in the task input. */
export type ScriptedPlannerOptions = Record<string, never>;

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/planner-scripted': ScriptedPlannerOptions;
  }
}

export default definePlugin<ScriptedPlannerOptions>({
  register(env) {
    env.provide(extensionPoints.planner, { deps: {}, create: () => new ScriptedPlanner() });
  },
});
