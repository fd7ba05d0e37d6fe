/** Attributes of `h`: strings and numbers become attributes, `on<event>` functions listeners, false/undefined nothing. */
export type Props = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;
export type Child = Node | string | number | null | undefined | false | Child[];

/** Builds an element: the page's only way to make DOM, so every text goes in as text (never as HTML). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `el` shows. */
export function show(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A value as indented JSON, for arguments, results and outputs. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'undefined';
}

export function time(iso: string | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '';
}

export const FINAL_STATUSES = new Set(['succeeded', 'failed', 'cancelled']);

/** A status as a badge; any status, known or not, gets one (a status added later shows by its name). */
export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge status-${status.replace(/[^a-z_]/g, '')}`, 'data-status': status }, status);
}
