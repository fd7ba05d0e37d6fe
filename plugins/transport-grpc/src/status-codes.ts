import { status as GrpcStatus, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  ErrorCodes,
  errorDefinition,
  isOpspawnError,
  isServerSideCategory,
  unhandledCategory,
  type ErrorCategory,
  type ErrorDefinition,
} from '@opspawn/plugin-sdk';
import { encodeStatusDetails } from './status-details.js';

/** The gRPC status of every error category: the one place this transport decides statuses. */
export function grpcStatusFor(category: ErrorCategory): GrpcStatus {
  switch (category) {
    case 'invalid':
    case 'unsupported_media_type':
      return GrpcStatus.INVALID_ARGUMENT;
    case 'unauthenticated':
      return GrpcStatus.UNAUTHENTICATED;
    case 'forbidden':
      return GrpcStatus.PERMISSION_DENIED;
    case 'not_found':
      return GrpcStatus.NOT_FOUND;
    case 'method_not_allowed':
      return GrpcStatus.UNIMPLEMENTED;
    case 'conflict':
      return GrpcStatus.ALREADY_EXISTS;
    case 'wrong_state':
      return GrpcStatus.FAILED_PRECONDITION;
    case 'cancelled':
      return GrpcStatus.CANCELLED;
    case 'too_large':
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 'unavailable':
      return GrpcStatus.UNAVAILABLE;
    case 'timeout':
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 'task_failed':
    case 'config':
    case 'plugin':
    case 'boot':
    case 'stop':
    case 'internal':
      return GrpcStatus.INTERNAL;
    default:
      return unhandledCategory(category);
  }
}

const GENERIC_MESSAGE = 'the server failed to handle this call; see its logs';

/**
 * A gRPC error for anything thrown by a handler. The code and its fix travel in the standard
 * `grpc-status-details-bin` trailer (a google.rpc.Status with ErrorInfo, Help and BadRequest details) and, for
 * clients that read plain metadata, in `opspawn-code`, `opspawn-hint` and `opspawn-details` (field problems as
 * JSON). Anything that is not an OpspawnError is INTERNAL with a generic message.
 */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const definition = isOpspawnError(error) ? errorDefinition(error.code) : undefined;
  if (!isOpspawnError(error) || !definition)
    return serviceError(errorDefinition(ErrorCodes.INTERNAL)!, GENERIC_MESSAGE);
  if (isServerSideCategory(definition.category)) return serviceError(definition, GENERIC_MESSAGE);
  const fields = Array.isArray(error.details) ? (error.details as Array<{ path: string; message: string }>) : [];
  return serviceError(definition, error.message, error.hint, fields);
}

function serviceError(
  definition: ErrorDefinition,
  message: string,
  hint = definition.hint,
  fields: Array<{ path: string; message: string }> = [],
): Partial<ServiceError> {
  const code = grpcStatusFor(definition.category);
  const details = `${definition.code}: ${message}`;
  const metadata = new Metadata();
  metadata.set('opspawn-code', definition.code);
  metadata.set('opspawn-hint', percentEncoded(hint));
  if (fields.length > 0) metadata.set('opspawn-details', percentEncoded(JSON.stringify(fields)));
  metadata.set('grpc-status-details-bin', encodeStatusDetails(code, details, definition, hint, fields));
  return { code, details, metadata };
}

/**
 * Text metadata may hold only printable ASCII (grpc-js throws on anything else, e.g. a field name in Cyrillic), so
 * other characters and `%` are percent-encoded UTF-8, as gRPC encodes `grpc-message`: decodeURIComponent reverses it.
 */
function percentEncoded(text: string): string {
  return text.replace(/[^ -$&-~]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}
