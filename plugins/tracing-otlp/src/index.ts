import { definePlugin } from '@opspawn/plugin-sdk';
import { TraceExport, type TraceExportOptions } from './trace-export.js';

export { TraceExport, serviceNameOf, type TraceExportOptions } from './trace-export.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/tracing-otlp': Partial<TraceExportOptions>;
  }
}

export default definePlugin<TraceExportOptions>({
  register(env) {
    env.registerInit({
      init() {
        const tracing = TraceExport.start(env.options, { role: env.role, version: env.version }, env.logger);
        env.logger.info(
          { url: env.options.url, samplingRatio: env.options.samplingRatio },
          'exporting traces over OTLP/HTTP',
        );
        return () => tracing.stop();
      },
    });
  },
});
