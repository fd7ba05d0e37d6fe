import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

/**
 * The `.proto` files: a published package carries them in `proto/` (copied by `prepack`); in this repository
 * they are read from the top-level `proto/`, the single source.
 */
export function protoRoot(): string {
  for (const candidate of ['../proto', '../../../proto']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${dir}/opspawn/v1/tasks.proto`)) return dir;
  }
  throw new OpspawnError(
    ErrorCodes.PLUGIN_LOAD_FAILED,
    'opspawn/v1/tasks.proto is not found next to @opspawn/transport-grpc (its proto/ folder is missing)',
    {
      plugin: 'transport-grpc',
      hint: 'reinstall @opspawn/transport-grpc (its package carries proto/), or in this repository keep the top-level proto/',
    },
  );
}

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export function loadTaskServiceDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync('opspawn/v1/tasks.proto', { ...LOADER_OPTIONS, includeDirs: [protoRoot()] });
}

/** The task service and the schedule service, one package definition (both in package opspawn.v1). */
export function loadServiceDefinitions(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(['opspawn/v1/tasks.proto', 'opspawn/v1/schedules.proto'], {
    ...LOADER_OPTIONS,
    includeDirs: [protoRoot()],
  });
}
