import { get, post, streamEvents } from './api.js';
import { approvalControls } from './approvals.js';
import { FINAL_STATUSES, h, json, show, statusBadge, time } from './dom.js';
import { failure } from './failure.js';
import { eventRow } from './timeline.js';
import type { ErrorHint, Task, TaskDelta, TaskEvent, View } from './types.js';

let hints: Promise<Record<string, ErrorHint>> | undefined;

/** The fix of each error code, read once from the dashboard's own route. */
function errorHints(): Promise<Record<string, ErrorHint>> {
  hints ??= get<{ errors: Record<string, ErrorHint> }>('/ui/api/errors')
    .then((r) => r.errors)
    .catch(() => {
      hints = undefined;
      return {};
    });
  return hints;
}

/**
 * One task: its summary (status, usage, error with its fix, output), a cancel button while it can be cancelled,
 * the place for approvals, and its timeline, filled live from the event stream, deltas included.
 */
export const taskView: View = (main) => {
  const id = decodeURIComponent(location.hash.slice('#/tasks/'.length).split('?')[0] ?? '');
  const controller = new AbortController();
  const summary = h('section', { 'aria-label': 'Summary', class: 'summary' });
  const actions = h('div', { class: 'actions' });
  const approvals = h('section', { 'aria-label': 'Approvals', 'data-slot': 'approvals' });
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Timeline', 'aria-live': 'polite' });
  const streamNote = h('p', { class: 'note', role: 'status' });
  show(
    main,
    h('p', null, h('a', { href: '#/tasks' }, '← Tasks')),
    h('h1', null, 'Task ', h('span', { class: 'mono' }, id)),
    summary,
    actions,
    approvals,
    h('h2', null, 'Timeline'),
    streamNote,
    timeline,
  );

  let task: Task | undefined;
  const events: TaskEvent[] = [];
  const approvalsOf = approvalControls();
  /** Text streaming for a step, shown until the step's stored decision arrives. */
  const live = new Map<number, { row: HTMLElement; text: HTMLElement }>();

  const drawTask = async (t: Task) => {
    task = t;
    const known = t.error ? (await errorHints())[t.error.code] : undefined;
    show(
      summary,
      h(
        'dl',
        { class: 'facts' },
        fact('Status', statusBadge(t.status)),
        fact('Goal', t.goal),
        t.agent ? fact('Agent', t.agent) : null,
        t.planner ? fact('Planner', t.planner) : null,
        fact('Attempts', `${t.attempts} of ${t.maxAttempts}`),
        t.parentId ? fact('Parent', h('a', { href: `#/tasks/${t.parentId}`, class: 'mono' }, t.parentId)) : null,
        fact(
          'Tokens',
          t.usage
            ? `${t.usage.inputTokens.toLocaleString()} in, ${t.usage.outputTokens.toLocaleString()} out, ${t.usage.llmCalls} LLM call${t.usage.llmCalls === 1 ? '' : 's'}`
            : '—',
        ),
        fact('Created', time(t.createdAt)),
        t.finishedAt ? fact('Finished', time(t.finishedAt)) : null,
        Object.keys(t.labels ?? {}).length
          ? fact(
              'Labels',
              Object.entries(t.labels).map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`)),
            )
          : null,
      ),
      t.error
        ? h(
            'div',
            { class: 'error-box', role: 'alert', 'aria-label': 'Error' },
            h('strong', null, h('code', { class: 'error-code' }, t.error.code)),
            h('p', { class: 'error-message' }, t.error.message),
            known ? h('p', { class: 'error-hint' }, 'Fix: ', known.hint) : null,
            known ? h('a', { href: known.docUrl, rel: 'noreferrer' }, 'About this error') : null,
          )
        : null,
      t.status === 'succeeded'
        ? h('div', null, h('h2', null, 'Output'), h('pre', { class: 'output' }, json(t.output)))
        : null,
    );
    show(
      actions,
      FINAL_STATUSES.has(t.status)
        ? null
        : h(
            'button',
            { type: 'button', class: 'danger', disabled: t.cancelRequested === true, onclick: () => void cancel() },
            t.cancelRequested ? 'Cancelling…' : 'Cancel task',
          ),
    );
    show(approvals, approvalsOf(t, events));
  };

  const cancel = async () => {
    try {
      await drawTask(await post<Task>(`/v1/tasks/${id}/cancel`));
    } catch (error) {
      actions.append(failure(error));
    }
  };

  const refresh = async () => {
    try {
      await drawTask(await get<Task>(`/v1/tasks/${id}`, controller.signal));
    } catch (error) {
      if (!controller.signal.aborted) show(summary, failure(error));
    }
  };

  const onDelta = (delta: TaskDelta) => {
    const last = events.at(-1)?.seq ?? 0;
    if (delta.afterSeq < last || delta.data.kind !== 'text') return;
    let entry = live.get(delta.data.step);
    if (!entry) {
      // Not announced piece by piece: the stored decision that replaces it is.
      const text = h('pre', {
        class: 'live-text',
        'aria-label': `Step ${delta.data.step} text so far`,
        'aria-live': 'off',
      });
      const row = h(
        'li',
        { class: 'event event-delta', 'data-type': 'delta' },
        h('span', { class: 'what' }, `Step ${delta.data.step}: writing…`),
        text,
      );
      timeline.append(row);
      entry = { row, text };
      live.set(delta.data.step, entry);
    }
    entry.text.textContent += delta.data.text ?? '';
  };

  const onEvent = (event: TaskEvent) => {
    if (events.length && event.seq <= events.at(-1)!.seq) return;
    events.push(event);
    for (const [step, entry] of live) {
      // The stored decision of the step holds the whole text: the live one gives way.
      entry.row.remove();
      live.delete(step);
    }
    timeline.append(eventRow(event));
    if (event.type === 'status' || event.type === 'final' || event.type === 'handoff') void refresh();
    else if (task) show(approvals, approvalsOf(task, events));
  };

  const follow = async () => {
    while (!controller.signal.aborted) {
      show(streamNote, 'Live');
      try {
        for await (const frame of streamEvents(id, events.at(-1)?.seq ?? 0, controller.signal)) {
          const parsed = JSON.parse(frame.data) as TaskEvent | TaskDelta;
          if (parsed.type === 'delta') onDelta(parsed as TaskDelta);
          else onEvent(parsed as TaskEvent);
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        show(streamNote, failure(error));
        if ((error as { status?: number }).status) return;
      }
      if (task && FINAL_STATUSES.has(task.status) && events.some((e) => e.data.status === task!.status)) break;
      await new Promise((r) => setTimeout(r, 1000));
      await refresh();
      if (task && FINAL_STATUSES.has(task.status) && events.some((e) => e.data.status === task!.status)) break;
    }
    if (!controller.signal.aborted) show(streamNote, `Ended: the task ${task?.status ?? 'is gone'}.`);
  };

  void refresh().then(follow);
  return () => controller.abort();
};

function fact(name: string, ...value: Array<Node | string | Node[]>): HTMLElement[] {
  return [h('dt', null, name), h('dd', null, ...value)];
}
