/**
 * Building DOM nodes without markup strings: every piece of text goes in as a text node, so
 * nothing the cluster reports (package names, event messages) can become markup (design §8:
 * textContent only, never innerHTML with data).
 */

export type Child = Node | string | number | undefined | null | false;

export interface Props {
  class?: string;
  /** Attributes, set with setAttribute (values are never parsed as markup). */
  attrs?: Record<string, string | undefined>;
  /** Called with the element once built (event listeners). */
  on?: Partial<Record<keyof HTMLElementEventMap, (event: Event) => void>>;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class !== undefined) node.className = props.class;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value !== undefined) node.setAttribute(name, value);
  }
  for (const [type, listener] of Object.entries(props.on ?? {})) {
    if (listener !== undefined) node.addEventListener(type, listener);
  }
  append(node, children);
  return node;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** A state shown as a symbol and a word (never colour alone); the symbol is hidden from screen readers. */
export function badge(badgeData: { text: string; icon: string; tone: string }, extraClass = ""): HTMLElement {
  return el("span", { class: `badge tone-${badgeData.tone} ${extraClass}`.trim() }, [
    el("span", { class: "icon", attrs: { "aria-hidden": "true" } }, [badgeData.icon]),
    " ",
    badgeData.text,
  ]);
}

/** The element with `id`, which index.html guarantees. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`index.html has no #${id}`);
  return node as T;
}
