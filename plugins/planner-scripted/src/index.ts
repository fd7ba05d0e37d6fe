import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { ScriptedPlanner } from './scripted-planner.js';

export { ScriptedPlanner } from './scripted-planner.js';
export { validatePlan, type Plan, type PlannedCall } from './plan.js';
export { render } from './templates.js';

export default definePlugin({
  register(env) {
    env.provide(extensionPoints.planner, { create: () => new ScriptedPlanner() });
  },
});
