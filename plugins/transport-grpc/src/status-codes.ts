import { status as GrpcStatus, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ErrorCodes, isOpspawnError } from '@opspawn/plugin-sdk';

/** Opspawn error codes as gRPC status codes: the same mapping REST uses for HTTP statuses. */
const MAPPING: Record<string, GrpcStatus> = {
  [ErrorCodes.TASK_INVALID]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCodes.INVALID_REQUEST]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCodes.PLANNER_UNKNOWN]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCodes.MEMORY_UNKNOWN]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCodes.TASK_NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorCodes.IDEMPOTENCY_CONFLICT]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCodes.TASK_NOT_CANCELLABLE]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCodes.UNAUTHENTICATED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCodes.FORBIDDEN]: GrpcStatus.PERMISSION_DENIED,
};

/**
 * A gRPC error for anything thrown by a handler. Known errors keep their message and carry the Opspawn code
 * (and field details as JSON) in trailing metadata; anything else is INTERNAL with a generic message.
 */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (isOpspawnError(error) && MAPPING[error.code] !== undefined) {
    metadata.set('opspawn-code', error.code);
    if (error.details !== undefined) metadata.set('opspawn-details', JSON.stringify(error.details));
    return { code: MAPPING[error.code], details: `${error.code}: ${error.message}`, metadata };
  }
  metadata.set('opspawn-code', 'OPSPAWN_INTERNAL');
  return {
    code: GrpcStatus.INTERNAL,
    details: 'OPSPAWN_INTERNAL: the server failed to handle this call; see its logs',
    metadata,
  };
}
