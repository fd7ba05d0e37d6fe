import { definePlugin, extensionPoints, services } from '@opspawn/plugin-sdk';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-server.js';

export { GrpcTransport, type GrpcTransportOptions } from './grpc-server.js';
export { protoRoot, loadTaskServiceDefinition, LOADER_OPTIONS } from './proto-files.js';
export { grpcStatusFor } from './status-codes.js';
export { decodeStatusDetails, ERROR_DOMAIN, type DecodedStatusDetails } from './status-details.js';
export { agentToProto, eventToProto, statusFromProto, submitFromProto, taskToProto } from './task-messages.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/transport-grpc': Partial<GrpcTransportOptions>;
  }
}

export default definePlugin<GrpcTransportOptions>({
  register(env) {
    env.provide(extensionPoints.transport, {
      deps: {
        tasks: services.taskService,
        agents: services.agents,
        schedules: services.schedules,
        health: services.health,
      },
      async create({ tasks, agents, schedules, health }) {
        const transport = new GrpcTransport(env.options, tasks, agents, schedules, health, env.logger, env.id);
        await transport.listen();
        env.logger.info({ addresses: transport.addresses() }, 'gRPC listening');
        return transport;
      },
      dispose: (transport) => transport.close(),
    });
  },
});
