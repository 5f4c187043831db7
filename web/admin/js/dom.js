// Tiny DOM builders. Every piece of data goes in as text (textContent / attributes), never as
// markup: room names and logins come from participants.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** el('td', { className: 'x', dataset: { peer: 1 } }, 'text', child, ...) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, props, children);
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function fill(node, props, children) {
  for (const [k, v] of Object.entries(props)) {
    if (v == null) continue;
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c != null && c !== false) node.append(c);
  return node;
}

/** Replace everything inside `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
}
