import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { AnthropicPlanner, type AnthropicPlannerOptions } from './anthropic-planner.js';

export {
  AnthropicPlanner,
  DEFAULT_SYSTEM_PROMPT,
  usageOf,
  type AnthropicPlannerOptions,
} from './anthropic-planner.js';
export { toAnthropicConversation, type AnthropicConversation } from './anthropic-messages.js';
export { ANTHROPIC_TOOL_NAME, ToolNames, wireToolName } from './tool-names.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/planner-anthropic': Partial<AnthropicPlannerOptions>;
  }
}

export default definePlugin<AnthropicPlannerOptions>({
  register(env) {
    env.provide(extensionPoints.planner, { create: () => new AnthropicPlanner(env.options, env.logger) });
  },
});
