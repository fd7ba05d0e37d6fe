import { join } from 'node:path';
import type { ErrorDefinition } from '@opspawn/plugin-sdk';
import protobuf from 'protobufjs';
import { protoRoot } from './proto-files.js';

/** The `domain` of every ErrorInfo this transport sends. */
export const ERROR_DOMAIN = 'opspawn.dev';

const TYPE_URL_PREFIX = 'type.googleapis.com/';

let root: protobuf.Root | undefined;

/** google.rpc.Status and its details, from proto/google/rpc (google/protobuf/any.proto is built into protobufjs). */
function rpcTypes(): protobuf.Root {
  if (root) return root;
  const dir = protoRoot();
  const loaded = new protobuf.Root();
  loaded.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(dir, target));
  loaded.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  root = loaded;
  return loaded;
}

function packed(typeName: string, value: object): { type_url: string; value: Uint8Array } {
  const type = rpcTypes().lookupType(typeName);
  return { type_url: TYPE_URL_PREFIX + typeName, value: type.encode(type.fromObject(value)).finish() };
}

/**
 * The `grpc-status-details-bin` trailer: a google.rpc.Status whose details are an ErrorInfo (reason = the code,
 * metadata.hint = the fix), a Help link to the code's section in the errors reference, and for field problems a
 * BadRequest naming each field.
 */
export function encodeStatusDetails(
  grpcCode: number,
  message: string,
  definition: ErrorDefinition,
  hint: string,
  fields: Array<{ path: string; message: string }> = [],
): Buffer {
  const details = [
    packed('google.rpc.ErrorInfo', {
      reason: definition.code,
      domain: ERROR_DOMAIN,
      metadata: { hint, category: definition.category, retryable: String(definition.retryable) },
    }),
    packed('google.rpc.Help', {
      links: [{ description: `${definition.code} in the Opspawn errors reference`, url: definition.docUrl }],
    }),
  ];
  if (fields.length > 0)
    details.push(
      packed('google.rpc.BadRequest', {
        fieldViolations: fields.map((f) => ({ field: f.path, description: f.message })),
      }),
    );
  const status = rpcTypes().lookupType('google.rpc.Status');
  return Buffer.from(status.encode(status.fromObject({ code: grpcCode, message, details })).finish());
}

/** What a client finds in a `grpc-status-details-bin` trailer sent by this transport. */
export interface DecodedStatusDetails {
  code: number;
  message: string;
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  help?: { links: Array<{ description: string; url: string }> };
  badRequest?: { fieldViolations: Array<{ field: string; description: string }> };
}

/** Decodes the trailer (for clients written in TypeScript, and for this transport's tests). */
export function decodeStatusDetails(bytes: Uint8Array): DecodedStatusDetails {
  const types = rpcTypes();
  const status = types.lookupType('google.rpc.Status').decode(bytes) as unknown as {
    code: number;
    message: string;
    details: Array<{ type_url: string; value: Uint8Array }>;
  };
  const decoded: DecodedStatusDetails = { code: status.code, message: status.message };
  for (const any of status.details) {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = types.lookupType(typeName);
    const value = type.toObject(type.decode(any.value), { defaults: true });
    if (typeName === 'google.rpc.ErrorInfo') decoded.errorInfo = value as DecodedStatusDetails['errorInfo'];
    else if (typeName === 'google.rpc.Help') decoded.help = value as DecodedStatusDetails['help'];
    else if (typeName === 'google.rpc.BadRequest') decoded.badRequest = value as DecodedStatusDetails['badRequest'];
  }
  return decoded;
}
