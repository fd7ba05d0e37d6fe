import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO } from './deployment.js';

/**
 * A service of the repository's `proto/opspawn/v1/<file>.proto`, loaded as a grpc-js client or server would load it:
 * camelCase fields, int64 as numbers, enums as strings, defaults filled in. `new (loadGrpcService(...))(address,
 * grpc.credentials.createInsecure())` makes a client; `.service` is what a server adds. Its type is built at run time
 * from the .proto file, hence `any`.
 */
export function loadGrpcService(file: 'tasks' | 'schedules', service: string, options: protoLoader.Options = {}): any {
  const definition = protoLoader.loadSync(`opspawn/v1/${file}.proto`, {
    includeDirs: [join(REPO, 'proto')],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    ...options,
  });
  return (grpc.loadPackageDefinition(definition) as any).opspawn.v1[service];
}
