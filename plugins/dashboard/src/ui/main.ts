import { type ApiError, apiKey, setApiKey, whenUnauthenticated } from './api.js';
import { agentsView } from './agents-view.js';
import { h, show } from './dom.js';
import { pluginsView } from './plugins-view.js';
import { taskView } from './task-view.js';
import { tasksView } from './tasks-view.js';
import type { Settings, View } from './types.js';

const settings = JSON.parse(document.body.dataset.settings!) as Settings;
const main = document.getElementById('view') as HTMLElement;
const signOut = document.getElementById('sign-out') as HTMLButtonElement;
let stop: () => void = () => undefined;

/** The view of the address's hash: #/tasks, #/tasks/<id>, #/agents, #/plugins. */
function viewOf(hash: string): View {
  if (hash.startsWith('#/tasks/')) return taskView;
  if (hash.startsWith('#/agents')) return agentsView;
  if (hash.startsWith('#/plugins')) return pluginsView;
  return tasksView;
}

function route(): void {
  stop();
  const hash = location.hash || '#/tasks';
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    const here = hash.startsWith(link.getAttribute('href')!);
    if (here) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  signOut.hidden = !apiKey();
  stop = viewOf(hash)(main, settings);
}

/** The key form, shown whenever the API answers 401: the key is kept for this browser tab only (sessionStorage). */
function askForKey(error: ApiError): void {
  if (main.querySelector('form.login')) return; // several requests were refused at once
  stop();
  stop = () => undefined;
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    'aria-describedby': 'api-key-why',
  });
  const form = h(
    'form',
    {
      class: 'login',
      'aria-label': 'Sign in',
      onsubmit: (event) => {
        event.preventDefault();
        setApiKey(input.value.trim());
        route();
      },
    },
    h('h1', null, 'API key needed'),
    h(
      'p',
      { id: 'api-key-why', role: 'alert' },
      apiKey()
        ? `The API refused the key: ${error.message}.`
        : 'This host asks for an API key with the read scope (submit to cancel tasks).',
    ),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  setApiKey(null);
  signOut.hidden = true;
  show(main, form);
  input.focus();
}

whenUnauthenticated(askForKey);
signOut.addEventListener('click', () => {
  setApiKey(null);
  route();
});
window.addEventListener('hashchange', () => {
  route();
  // A screen reader or keyboard user lands on the new view, not on the link that led there.
  if (!main.querySelector('form.login')) main.focus({ preventScroll: true });
});
route();
