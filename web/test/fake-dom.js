// Just enough of the DOM for the view tests in Node: elements that hold children, text and
// attributes. Setting innerHTML or outerHTML throws, so a view that renders through markup fails
// its test instead of passing it.

class FakeText {
  constructor(text) {
    this.nodeType = 3;
    this.data = String(text);
    this.parent = null;
  }

  get textContent() { return this.data; }
}

export class FakeElement {
  constructor(tag) {
    this.nodeType = 1;
    this.tagName = tag.toUpperCase();
    this.childNodes = [];
    this.parent = null;
    this.className = '';
    this.dataset = {};
    this.attributes = {};
    this.listeners = {};
    this.value = '';
    this.disabled = false;
    this.scrollTop = 0;
    this.focused = 0;
  }

  get textContent() {
    return this.childNodes.map((c) => c.textContent).join('');
  }

  set textContent(text) {
    this.replaceChildren(new FakeText(text));
  }

  set innerHTML(_) { throw new Error('innerHTML used'); }
  set outerHTML(_) { throw new Error('outerHTML used'); }
  get children() { return this.childNodes.filter((c) => c.nodeType === 1); }
  get firstElementChild() { return this.children[0] || null; }
  get scrollHeight() { return this.childNodes.length * 20; }

  append(...nodes) {
    for (const n of nodes) this.appendChild(typeof n === 'string' ? new FakeText(n) : n);
  }

  appendChild(node) {
    if (node.parent) node.parent.childNodes = node.parent.childNodes.filter((c) => c !== node);
    node.parent = this;
    this.childNodes.push(node);
    return node;
  }

  replaceChildren(...nodes) {
    this.childNodes = [];
    this.append(...nodes);
  }

  remove() {
    if (this.parent) this.parent.childNodes = this.parent.childNodes.filter((c) => c !== this);
    this.parent = null;
  }

  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return this.attributes[name] ?? null; }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  focus() { this.focused++; }

  /** Fire `type` at this element; returns whether a listener called preventDefault(). */
  dispatch(type) {
    let prevented = false;
    const event = { type, target: this, preventDefault: () => { prevented = true; } };
    for (const fn of this.listeners[type] || []) fn(event);
    return prevented;
  }

  /** Descendant elements whose class list has `cls`, in document order. */
  findAll(cls) {
    const out = [];
    for (const c of this.children) {
      if (c.className.split(' ').includes(cls)) out.push(c);
      out.push(...c.findAll(cls));
    }
    return out;
  }
}

/** Install a fake `document` on globalThis for the duration of a test; returns the uninstaller. */
export function installFakeDocument() {
  const had = Object.hasOwn(globalThis, 'document');
  const previous = globalThis.document;
  globalThis.document = {
    createElement: (tag) => new FakeElement(tag),
    createTextNode: (text) => new FakeText(text),
  };
  return () => {
    if (had) globalThis.document = previous;
    else delete globalThis.document;
  };
}
