import { ApiError } from './api.js';
import { h } from './dom.js';

/** A failed request as the page shows it: the code, the message and the fix the API sent. */
export function failure(error: unknown): HTMLElement {
  if (error instanceof ApiError)
    return h(
      'span',
      { class: 'failure', role: 'alert' },
      h('code', null, error.code),
      ` ${error.message}`,
      error.hint ? ` — ${error.hint}` : '',
    );
  return h('span', { class: 'failure', role: 'alert' }, String((error as Error)?.message ?? error));
}
