import { ApiError, post } from './api.js';
import { type Child, h, json, show, time } from './dom.js';
import { failure } from './failure.js';
import type { Task, TaskEvent } from './types.js';

/** The call a task waits on: its latest `approval_requested` event that no `approval_decided` answered yet. */
export function waitingCall(events: readonly TaskEvent[]): TaskEvent | undefined {
  const decided = new Set(events.filter((e) => e.type === 'approval_decided').map((e) => String(e.data.callId)));
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === 'approval_requested' && !decided.has(String(e.data.callId))) return e;
  }
  return undefined;
}

/**
 * Approve and reject buttons for a task in `waiting_approval` (issue 15): the waiting call (tool, arguments, expiry),
 * an optional note, the arguments as editable JSON (checked here before sending), and the decision posted to
 * `POST /v1/tasks/{id}/approvals/{callId}`. The timeline then shows the `approval_decided` event and the task resumes
 * live from the event stream. See docs/decisions/0019-dashboard.md.
 *
 * One per task view: it keeps the form of the waiting call, since the view draws the approvals again after every
 * event and an operator's half-written note or arguments must survive that. Kept per view, not per page, so a late
 * redraw of the view just left (its task no longer waiting) cannot drop the form of the one open now.
 */
export function approvalControls(): (task: Task, events: readonly TaskEvent[]) => Child {
  let kept: { key: string; form: HTMLElement } | undefined;
  return (task, events) => {
    if (task.status !== 'waiting_approval') {
      kept = undefined;
      return null;
    }
    const request = waitingCall(events);
    if (!request) return h('p', { class: 'note' }, 'Waiting for approval: reading the call…');
    const key = `${task.id} ${String(request.data.callId)}`;
    if (kept?.key !== key) kept = { key, form: approvalForm(task, request) };
    return kept.form;
  };
}

function approvalForm(task: Task, request: TaskEvent): HTMLElement {
  const d = request.data as { step: number; callId: string; tool: string; arguments: unknown; expiresAt: string };
  const ids = `approval-${d.callId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const original = json(d.arguments);
  const note = h('input', { id: `${ids}-note`, name: 'note', placeholder: 'why (optional)', autocomplete: 'off' });
  const args = h('textarea', {
    id: `${ids}-arguments`,
    name: 'arguments',
    rows: Math.min(12, original.split('\n').length + 1),
    spellcheck: false,
    'aria-describedby': `${ids}-arguments-help`,
    // An edit answers the last complaint about the arguments: it goes until the next click.
    oninput: () => {
      if (!args.hasAttribute('aria-invalid')) return;
      args.removeAttribute('aria-invalid');
      show(outcome);
    },
  });
  args.value = original;
  const outcome: HTMLElement = h('p', { class: 'approval-outcome', role: 'status', 'aria-live': 'polite' });
  const approve = h('button', { type: 'submit', value: 'approve', class: 'approve' }, 'Approve');
  const reject = h('button', { type: 'submit', value: 'reject', class: 'danger' }, 'Reject');

  /** The edited arguments, or undefined when unchanged; a problem is shown and thrown as null. */
  const editedArguments = (): { value?: unknown } | null => {
    if (args.value.trim() === original.trim()) return {};
    let value: unknown;
    try {
      value = JSON.parse(args.value);
    } catch (error) {
      return invalid(`The arguments are not valid JSON: ${(error as Error).message}. Nothing was sent.`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return invalid('The arguments must be a JSON object, as the tool takes them. Nothing was sent.');
    return json(value) === original ? {} : { value };
  };
  const invalid = (message: string): null => {
    args.setAttribute('aria-invalid', 'true');
    show(outcome, h('span', { class: 'failure', role: 'alert' }, message));
    args.focus();
    return null;
  };

  const decide = async (decision: 'approve' | 'reject') => {
    args.removeAttribute('aria-invalid');
    show(outcome);
    const body: { decision: string; note?: string; arguments?: unknown } = { decision };
    if (note.value.trim()) body.note = note.value.trim();
    if (decision === 'approve') {
      const edited = editedArguments();
      if (!edited) return;
      if ('value' in edited) body.arguments = edited.value;
    }
    approve.disabled = reject.disabled = true;
    show(outcome, decision === 'approve' ? 'Approving…' : 'Rejecting…');
    try {
      await post<Task>(`/v1/tasks/${encodeURIComponent(task.id)}/approvals/${encodeURIComponent(d.callId)}`, body);
      show(
        outcome,
        decision === 'approve' ? 'Approved: the task resumes.' : 'Rejected: the task resumes without the call.',
      );
    } catch (error) {
      show(outcome, failure(error));
      // Decided elsewhere or no longer waiting: deciding again cannot work; anything else may (a key with submit).
      const final = error instanceof ApiError && error.status === 409;
      approve.disabled = reject.disabled = final;
    }
  };

  return h(
    'form',
    {
      class: 'approval',
      'aria-label': `Approve or reject ${d.tool}`,
      onsubmit: (event) => {
        event.preventDefault();
        const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
        void decide(submitter?.value === 'reject' ? 'reject' : 'approve');
      },
    },
    h('h2', null, 'Waiting for approval'),
    h(
      'p',
      null,
      `Step ${d.step} calls `,
      h('code', { class: 'approval-tool' }, d.tool),
      ' (call ',
      h('span', { class: 'mono' }, d.callId),
      '). ',
      h('span', { class: 'expires' }, 'Expires ', h('time', { datetime: d.expiresAt }, time(d.expiresAt)), '.'),
    ),
    h('label', { for: args.id }, 'Arguments'),
    args,
    h(
      'p',
      { id: `${ids}-arguments-help`, class: 'note' },
      'JSON. Edit to approve the call with other arguments (the tool still checks them); a rejection ignores them.',
    ),
    h('label', { for: note.id }, 'Note'),
    note,
    h('div', { class: 'actions' }, approve, reject),
    outcome,
  );
}
