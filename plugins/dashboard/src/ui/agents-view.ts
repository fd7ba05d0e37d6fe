import { get } from './api.js';
import { h, show } from './dom.js';
import { failure } from './failure.js';
import type { View } from './types.js';

interface Agent {
  id: string;
  description?: string;
  planner: string;
  memory: string;
  tools: string[];
  limits: Record<string, unknown>;
}

/** The deployment's agents, each with a link to its tasks. */
export const agentsView: View = (main) => {
  const body = h('div');
  show(main, h('h1', null, 'Agents'), body);
  void get<{ agents: Agent[] }>('/v1/agents')
    .then(({ agents }) =>
      show(
        body,
        agents.length
          ? h(
              'div',
              { class: 'scroll' },
              h(
                'table',
                { 'aria-label': 'Agents' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    ['Agent', 'Description', 'Planner', 'Memory', 'Tools', 'Limits'].map((c) =>
                      h('th', { scope: 'col' }, c),
                    ),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  agents.map((a) =>
                    h(
                      'tr',
                      null,
                      h('td', null, h('a', { href: `#/tasks?agent=${encodeURIComponent(a.id)}` }, a.id)),
                      h('td', null, a.description ?? ''),
                      h('td', null, a.planner),
                      h('td', null, a.memory),
                      h(
                        'td',
                        null,
                        a.tools.map((t) => h('code', { class: 'chip' }, t)),
                      ),
                      h(
                        'td',
                        null,
                        Object.entries(a.limits ?? {})
                          .map(([k, v]) => `${k} ${v}`)
                          .join(', '),
                      ),
                    ),
                  ),
                ),
              ),
            )
          : h('p', null, 'No agents are configured: tasks run unscoped.'),
      ),
    )
    .catch((error) => show(body, failure(error)));
  return () => undefined;
};
