import { ErrorCodes } from '@opspawn/plugin-sdk';

/**
 * Codes a failed call carries in `{ isError: true, output: { code, message } }`. The SDK's tool codes where
 * they fit; the sandbox-specific ones share their prefix.
 */
export const SandboxErrorCodes = {
  TIMEOUT: ErrorCodes.TOOL_TIMEOUT,
  FAILED: ErrorCodes.TOOL_FAILED,
  RESULT_TOO_LARGE: ErrorCodes.TOOL_RESULT_TOO_LARGE,
  CANCELLED: ErrorCodes.TASK_CANCELLED,
  OUT_OF_MEMORY: 'OPSPAWN_TOOL_OUT_OF_MEMORY',
  STACK_OVERFLOW: 'OPSPAWN_TOOL_STACK_OVERFLOW',
  OUTPUT_NOT_JSON: 'OPSPAWN_TOOL_OUTPUT_NOT_JSON',
  NEVER_SETTLES: 'OPSPAWN_TOOL_NEVER_SETTLES',
  LOAD_FAILED: 'OPSPAWN_TOOL_LOAD_FAILED',
  SANDBOX_CRASHED: 'OPSPAWN_TOOL_SANDBOX_CRASHED',
} as const;

export type SandboxErrorCode = (typeof SandboxErrorCodes)[keyof typeof SandboxErrorCodes];
