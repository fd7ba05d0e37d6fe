import { ErrorCodes } from '@opspawn/plugin-sdk';

/**
 * Codes a failed call carries in `{ isError: true, output: { code, message } }`, all declared in the SDK's error
 * registry: each has a category, a default fix and a section in docs/reference/errors.md.
 */
export const SandboxErrorCodes = {
  TIMEOUT: ErrorCodes.TOOL_TIMEOUT,
  FAILED: ErrorCodes.TOOL_FAILED,
  RESULT_TOO_LARGE: ErrorCodes.TOOL_RESULT_TOO_LARGE,
  CANCELLED: ErrorCodes.TASK_CANCELLED,
  OUT_OF_MEMORY: ErrorCodes.TOOL_OUT_OF_MEMORY,
  STACK_OVERFLOW: ErrorCodes.TOOL_STACK_OVERFLOW,
  OUTPUT_NOT_JSON: ErrorCodes.TOOL_OUTPUT_NOT_JSON,
  NEVER_SETTLES: ErrorCodes.TOOL_NEVER_SETTLES,
  LOAD_FAILED: ErrorCodes.TOOL_LOAD_FAILED,
  SANDBOX_CRASHED: ErrorCodes.TOOL_SANDBOX_CRASHED,
} as const;

export type SandboxErrorCode = (typeof SandboxErrorCodes)[keyof typeof SandboxErrorCodes];
