import { assertNever, type TaskEvent } from '@opspawn/plugin-sdk';

/**
 * The one-line message of a progress notification for an event. Each type is listed, so a new one fails to compile
 * here until someone decides what an MCP client should read for it.
 */
export function describeEvent(event: TaskEvent): string {
  switch (event.type) {
    case 'status':
      return `${event.data.status} (attempt ${event.data.attempt})${event.data.error ? `: ${event.data.error.code}: ${event.data.error.message}` : ''}`;
    case 'plan':
      return `step ${event.data.step}: ${event.data.calls.length ? `calling ${event.data.calls.map((c) => c.tool).join(', ')}` : 'answering'}`;
    case 'tool_call':
      return `step ${event.data.step}: ${event.data.tool} called`;
    case 'tool_result':
      return `step ${event.data.step}: ${event.data.tool} ${event.data.ok ? 'returned' : `failed: ${event.data.error?.code ?? 'error'}`} in ${Math.round(event.data.durationMs)} ms`;
    case 'final':
      return 'final answer';
    case 'log':
      return `${event.data.source} ${event.data.level}: ${event.data.message}`;
    case 'handoff':
      return `step ${event.data.step}: handed off to agent ${event.data.agent} (task ${event.data.childId})`;
    case 'approval_requested':
      return `step ${event.data.step}: ${event.data.tool} waits for approval (call ${event.data.callId}, until ${event.data.expiresAt})`;
    case 'approval_decided':
      return `step ${event.data.step}: call ${event.data.callId} ${event.data.decision === 'approve' ? 'approved' : 'rejected'} by ${event.data.by}`;
    default:
      return assertNever(event, 'task event type');
  }
}
