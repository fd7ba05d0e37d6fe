import { get } from './api.js';
import { h, show, statusBadge, time } from './dom.js';
import { failure } from './failure.js';
import type { Task, View } from './types.js';

/** The statuses offered as a filter; a status the API adds later still shows in the list. */
const STATUSES = ['queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled'];

/** The task list: newest first, filtered by status and label on the server and by agent here, read again every refreshMs. */
export const tasksView: View = (main, settings) => {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const status = h('select', { id: 'filter-status', name: 'status' }, [
    h('option', { value: '' }, 'any'),
    ...STATUSES.map((s) => h('option', { value: s, selected: params.get('status') === s }, s)),
  ]);
  const agent = h('select', { id: 'filter-agent', name: 'agent' }, h('option', { value: '' }, 'any'));
  const label = h('input', {
    id: 'filter-label',
    name: 'label',
    placeholder: 'key=value',
    value: params.get('label') ?? '',
    pattern: '[^=]+=.*',
  });
  const rows = h('tbody');
  const note = h('p', { class: 'note', role: 'status' });
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter tasks', onsubmit: (e) => e.preventDefault() },
    h('label', { for: 'filter-status' }, 'Status'),
    status,
    h('label', { for: 'filter-agent' }, 'Agent'),
    agent,
    h('label', { for: 'filter-label' }, 'Label'),
    label,
  );
  show(
    main,
    h('h1', null, 'Tasks'),
    filters,
    note,
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'tasks', 'aria-label': 'Tasks' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Task', 'Status', 'Agent', 'Goal', 'Labels', 'Created'].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        rows,
      ),
    ),
  );

  const wanted = params.get('agent');
  void get<{ agents: Array<{ id: string }> }>('/v1/agents')
    .then(({ agents }) => {
      for (const a of agents) agent.append(h('option', { value: a.id, selected: wanted === a.id }, a.id));
    })
    .catch(() => undefined);

  let closed = false;
  let controller = new AbortController();
  const load = async () => {
    controller.abort();
    controller = new AbortController();
    const query = new URLSearchParams({ limit: '100' });
    if (status.value) query.set('status', status.value);
    if (label.value.includes('=')) query.set('label', label.value);
    try {
      const { tasks } = await get<{ tasks: Task[] }>(`/v1/tasks?${query}`, controller.signal);
      if (closed) return;
      const shown = agent.value ? tasks.filter((t) => t.agent === agent.value) : tasks;
      show(rows, shown.map(taskRow));
      show(note, shown.length ? `${shown.length} task${shown.length === 1 ? '' : 's'}` : 'No tasks match.');
    } catch (error) {
      if (!closed && (error as Error).name !== 'AbortError') show(note, failure(error));
    }
  };
  const changed = () => {
    const q = new URLSearchParams();
    if (status.value) q.set('status', status.value);
    if (agent.value) q.set('agent', agent.value);
    if (label.value) q.set('label', label.value);
    history.replaceState(null, '', `#/tasks${q.size ? `?${q}` : ''}`);
    void load();
  };
  status.addEventListener('change', changed);
  agent.addEventListener('change', changed);
  label.addEventListener('change', changed);
  void load();
  const timer = setInterval(load, settings.refreshMs);
  return () => {
    closed = true;
    clearInterval(timer);
    controller.abort();
  };
};

function taskRow(task: Task): HTMLElement {
  return h(
    'tr',
    { 'data-task-id': task.id },
    h('td', null, h('a', { href: `#/tasks/${task.id}`, class: 'mono' }, task.id)),
    h('td', null, statusBadge(task.status)),
    h('td', null, task.agent ?? ''),
    h('td', { class: 'goal' }, task.goal),
    h(
      'td',
      null,
      Object.entries(task.labels ?? {}).map(([k, v]) => h('span', { class: 'chip', title: `${k}=${v}` }, `${k}=${v}`)),
    ),
    h('td', null, h('time', { datetime: task.createdAt }, time(task.createdAt))),
  );
}
