// core/emitter.js: listeners in order, off(), and a throwing listener neither stops the others nor
// disappears (its error is rethrown as an uncaught error).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter, rethrowLater } from '../client/js/core/emitter.js';

test('listeners run in the order they were added, with the arguments; off() removes one', () => {
  const e = new Emitter();
  const calls = [];
  const second = (a, b) => calls.push(['second', a, b]);
  e.on('x', (a, b) => calls.push(['first', a, b])).on('x', second).on('y', () => calls.push(['y']));
  e.emit('x', 1, 2);
  e.off('x', second);
  e.emit('x', 3);
  e.emit('nobody-listens');
  assert.deepEqual(calls, [['first', 1, 2], ['second', 1, 2], ['first', 3, undefined]]);
});

test('a throwing listener: the next ones still run, the caller goes on, the error is reported', () => {
  const e = new Emitter();
  const boom = new Error('view bug');
  const ran = [];
  const reported = [];
  e.reportError = (err) => reported.push(err);
  e.on('x', () => { throw boom; }).on('x', () => ran.push('after'));
  e.emit('x');
  ran.push('caller');
  assert.deepEqual(ran, ['after', 'caller']);
  assert.deepEqual(reported, [boom]);
});

test('by default the error is rethrown uncaught from a microtask, after the caller has finished', () => {
  const boom = new Error('view bug');
  const order = [];
  // the test runner treats an uncaught error as a failure: watch queueMicrotask instead
  const orig = globalThis.queueMicrotask;
  let task = null;
  globalThis.queueMicrotask = (fn) => { task = fn; };
  try {
    rethrowLater(boom);
    order.push('caller');
  } finally {
    globalThis.queueMicrotask = orig;
  }
  assert.deepEqual(order, ['caller']);
  assert.throws(task, (err) => err === boom);
});
