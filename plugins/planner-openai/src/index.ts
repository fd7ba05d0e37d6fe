import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { OpenAIPlanner, type OpenAIPlannerOptions } from './openai-planner.js';

export {
  OpenAIPlanner,
  toChatParam,
  DEFAULT_SYSTEM_PROMPT,
  type OpenAIPlannerOptions,
} from './openai-planner.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/planner-openai': Partial<OpenAIPlannerOptions>;
  }
}

export default definePlugin<OpenAIPlannerOptions>({
  register(env) {
    env.provide(extensionPoints.planner, { create: () => new OpenAIPlanner(env.options, env.logger) });
  },
});
