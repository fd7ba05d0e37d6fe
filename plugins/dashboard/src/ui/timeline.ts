import { h, json, statusBadge, time } from './dom.js';
import type { TaskEvent } from './types.js';

type Data = Record<string, any>;

/** One stored event as a timeline row. A type the page does not know yet shows as a generic row with its data. */
export function eventRow(event: TaskEvent): HTMLElement {
  const d = event.data as Data;
  return h(
    'li',
    { class: `event event-${event.type.replace(/[^a-z_]/g, '')}`, 'data-type': event.type, 'data-seq': event.seq },
    h('time', { datetime: event.at, class: 'at' }, `#${event.seq} ${time(event.at)}`),
    ...body(event.type, d),
  );
}

function body(type: string, d: Data): Array<Node | string | null> {
  switch (type) {
    case 'status':
      return [
        h('span', { class: 'what' }, 'Status ', statusBadge(String(d.status))),
        ` attempt ${d.attempt ?? '?'}`,
        d.worker ? ` on ${d.worker}` : '',
        d.retryInMs !== undefined ? `, retry in ${d.retryInMs} ms` : '',
        d.error ? errorLine(d.error) : null,
      ];
    case 'plan':
      return [
        h('span', { class: 'what' }, `Step ${d.step}: plan`),
        d.thought ? h('p', { class: 'thought' }, d.thought) : null,
        h(
          'ul',
          { class: 'calls' },
          ((d.calls ?? []) as Data[]).map((c) =>
            h('li', null, h('code', null, c.tool), payload('arguments', c.arguments)),
          ),
        ),
        usage(d.usage),
      ];
    case 'tool_call':
      return [
        h('span', { class: 'what' }, `Step ${d.step}: call `, h('code', null, d.tool)),
        payload('arguments', d.arguments, true),
      ];
    case 'tool_result':
      return [
        h('span', { class: 'what' }, `Step ${d.step}: `, h('code', null, d.tool), d.ok ? ' returned' : ' failed'),
        ` in ${d.durationMs} ms`,
        d.ok ? payload('result', d.output, true) : errorLine(d.error),
      ];
    case 'final':
      return [h('span', { class: 'what' }, 'Final answer'), payload('output', d.output, true), usage(d.usage)];
    case 'log':
      return [h('span', { class: 'what' }, `Log ${d.level} from ${d.source}: `), String(d.message)];
    case 'handoff':
      return [
        h('span', { class: 'what' }, `Step ${d.step}: handed off to agent `, h('code', null, d.agent)),
        ' → child task ',
        h('a', { href: `#/tasks/${d.childId}`, class: 'mono handoff-link' }, d.childId),
        d.created === false ? ' (found again)' : '',
      ];
    case 'approval_requested':
      return [
        h('span', { class: 'what' }, `Step ${d.step}: call `, h('code', null, d.tool), ' waits for approval'),
        ` (call ${d.callId}, expires ${time(d.expiresAt)})`,
        payload('arguments', d.arguments, true),
      ];
    case 'approval_decided':
      return [
        h(
          'span',
          { class: 'what' },
          `Step ${d.step}: call ${d.callId} `,
          h('span', { class: `decision decision-${d.decision}` }, d.decision === 'approve' ? 'approved' : 'rejected'),
          ' by ',
          h('strong', { class: 'by' }, String(d.by)),
        ),
        d.note ? h('p', { class: 'decision-note' }, 'Note: ', String(d.note)) : null,
        d.arguments !== undefined ? payload('replaced arguments', d.arguments, true) : null,
      ];
    default:
      return [h('span', { class: 'what' }, type), payload('data', d)];
  }
}

function payload(name: string, value: unknown, open = false): HTMLElement {
  return h('details', { open }, h('summary', null, name), h('pre', null, json(value)));
}

function errorLine(error: Data | undefined): HTMLElement | null {
  if (!error) return null;
  return h('p', { class: 'error-line' }, h('code', null, error.code), ` ${error.message}`);
}

function usage(u: Data | undefined): HTMLElement | null {
  if (!u) return null;
  return h('p', { class: 'usage' }, `Tokens: ${u.inputTokens} in, ${u.outputTokens} out`);
}
