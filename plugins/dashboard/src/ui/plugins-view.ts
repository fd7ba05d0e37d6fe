import { get } from './api.js';
import { h, show } from './dom.js';
import { failure } from './failure.js';
import type { View } from './types.js';

interface Plugin {
  id: string;
  version: string;
  kinds: string[];
  status: string;
  startMs?: number;
  error?: { code: string; message: string; phase?: string };
}

interface Health {
  ready: boolean;
  checks: Record<string, { state: string; detail?: string }>;
}

/** The plugins with their status, the host's health checks and the queue depth, read again every refreshMs. */
export const pluginsView: View = (main, settings) => {
  const plugins = h('div');
  const health = h('div');
  const queue = h('div');
  show(
    main,
    h('h1', null, 'Plugins and health'),
    h('h2', null, 'Health'),
    health,
    h('h2', null, 'Queue'),
    queue,
    h('h2', null, 'Plugins'),
    plugins,
  );
  const load = async () => {
    await Promise.all([
      get<{ plugins: Plugin[] }>('/v1/plugins')
        .then((r) => show(plugins, pluginTable(r.plugins)))
        .catch((e) => show(plugins, failure(e))),
      // /readyz answers 503 with the same report when something is down: read the body either way.
      fetch('/readyz')
        .then(async (r) => show(health, healthList((await r.json()) as Health)))
        .catch((e) => show(health, failure(e))),
      get<{ depth: Array<{ priority: number; ready: number; delayed: number }> | null }>('/ui/api/queue')
        .then(({ depth }) => show(queue, queueTable(depth)))
        .catch((e) => show(queue, failure(e))),
    ]);
  };
  void load();
  const timer = setInterval(load, settings.refreshMs);
  return () => clearInterval(timer);
};

function table(label: string, columns: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { 'aria-label': label },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h('tbody', null, rows),
    ),
  );
}

function pluginTable(plugins: Plugin[]): HTMLElement {
  return table(
    'Plugins',
    ['Plugin', 'Version', 'Kinds', 'Status', 'Start', 'Error'],
    plugins.map((p) =>
      h(
        'tr',
        { 'data-plugin': p.id },
        h('td', null, p.id),
        h('td', null, p.version),
        h('td', null, p.kinds.join(', ') || '—'),
        h('td', null, h('span', { class: `badge plugin-${p.status}` }, p.status)),
        h('td', null, p.startMs === undefined ? '' : `${p.startMs} ms`),
        h('td', null, p.error ? [h('code', null, p.error.code), ` ${p.error.message}`] : ''),
      ),
    ),
  );
}

function healthList(report: Health): HTMLElement {
  return h(
    'div',
    null,
    h(
      'p',
      null,
      h('span', { class: `badge ${report.ready ? 'health-ok' : 'health-down'}` }, report.ready ? 'ready' : 'not ready'),
    ),
    table(
      'Health checks',
      ['Check', 'State', 'Detail'],
      Object.entries(report.checks ?? {}).map(([name, c]) =>
        h(
          'tr',
          null,
          h('td', null, name),
          h('td', null, h('span', { class: `badge health-${c.state}` }, c.state)),
          h('td', null, c.detail ?? ''),
        ),
      ),
    ),
  );
}

function queueTable(depth: Array<{ priority: number; ready: number; delayed: number }> | null): HTMLElement {
  if (!depth) return h('p', null, 'This deployment’s broker does not report its queue depth.');
  if (!depth.length) return h('p', null, 'The queue is empty.');
  return table(
    'Queue depth',
    ['Priority', 'Ready', 'Delayed'],
    depth.map((d) =>
      h(
        'tr',
        null,
        h('td', null, String(d.priority)),
        h('td', null, String(d.ready)),
        h('td', null, String(d.delayed)),
      ),
    ),
  );
}
