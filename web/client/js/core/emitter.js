// A minimal event emitter for the DOM-free modules (the browser's EventTarget would tie them to DOM
// Event objects; Node's EventEmitter does not exist in the browser).

export class Emitter {
  constructor() {
    this.listeners = new Map(); // event name -> [fn]
  }

  /** Call fn(...args) on every emit(type, ...args). Returns this, to chain. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
    return this;
  }

  off(type, fn) {
    const list = this.listeners.get(type);
    if (list) this.listeners.set(type, list.filter((f) => f !== fn));
    return this;
  }

  /**
   * A throwing listener is reported and skipped: one broken view must not stop the session
   * (emit often runs inside an SDK callback, whose own state would be left half-updated).
   */
  emit(type, ...args) {
    for (const fn of this.listeners.get(type) || []) {
      try {
        fn(...args);
      } catch (e) {
        console.error(`listener of "${type}" failed`, e);
      }
    }
  }
}
