// A minimal event emitter for the DOM-free modules (the browser's EventTarget would tie them to DOM
// Event objects; Node's EventEmitter does not exist in the browser).

/** Throw `e` from a microtask: an uncaught error that does not unwind the current caller. */
export function rethrowLater(e) {
  queueMicrotask(() => {
    throw e;
  });
}

export class Emitter {
  constructor() {
    this.listeners = new Map(); // event name -> [fn]
    this.reportError = rethrowLater; // replaceable (tests)
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
   * A throwing listener does not stop the others or the caller (emit often runs inside an SDK
   * callback, whose own state would be left half-updated): its error is rethrown from a microtask,
   * so it still surfaces as an uncaught error (the page's error event, a failed test).
   */
  emit(type, ...args) {
    for (const fn of this.listeners.get(type) || []) {
      try {
        fn(...args);
      } catch (e) {
        this.reportError(e);
      }
    }
  }
}
