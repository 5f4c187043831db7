// core/chat-log.js: order, plain-text hygiene (markup stays text, controls go, long lines are cut
// at a code point), bounded history, the hh:mm clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_TEXT_MAX, ChatLog, clock } from '../client/js/core/chat-log.js';

const at = new Date(2026, 10, 30, 7, 4);
const log = (opts) => new ChatLog({ now: () => at, ...opts });

test('entries keep arrival order with increasing sequence numbers; notes and messages interleave', () => {
  const chat = log();
  const added = [];
  chat.on('add', (e) => added.push(e));
  chat.add('bob', 'first');
  chat.note('carol joined');
  chat.add('alice', 'second', true);
  assert.deepEqual(chat.entries.map((e) => [e.kind, e.from, e.text, e.mine]), [
    ['message', 'bob', 'first', false],
    ['note', undefined, 'carol joined', undefined],
    ['message', 'alice', 'second', true],
  ]);
  assert.deepEqual(chat.entries.map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual(added, chat.entries);
  assert.equal(chat.entries[0].at, at);
  assert.ok(Object.isFrozen(chat.entries[0]), 'a view cannot change an entry under another view');
});

test('markup is kept as text, not interpreted or altered', () => {
  const chat = log();
  const html = '<img src=x onerror="alert(1)"> & <script>alert(2)</script> &amp;';
  assert.equal(chat.add('<b>eve</b>', html).text, html);
  assert.equal(chat.entries[0].from, '<b>eve</b>');
});

test('unicode stays; control characters go, except newline and tab', () => {
  const chat = log();
  const greeting = 'Привет, 世界 👋 مرحبا';
  assert.equal(chat.add('bob', greeting).text, greeting);
  assert.equal(chat.add('bob', 'a\u0000b\u0007c\u001bd\u007fe\u0085f\nline\ttab').text, 'abcdef\nline\ttab');
  assert.equal(chat.add('bo\u0008b', 'x').from, 'bob');
});

test('non-string input becomes text', () => {
  const chat = log();
  assert.equal(chat.add('bob', 42).text, '42');
  assert.equal(chat.add('bob', null).text, '');
  assert.equal(chat.add(undefined, { toString: () => 'obj' }).text, 'obj');
  assert.equal(chat.entries[2].from, '');
});

test('a line longer than the input allows is cut at a code point with …; an honest one is whole', () => {
  const chat = log();
  const honest = 'x'.repeat(CHAT_TEXT_MAX);
  assert.equal(chat.add('bob', honest).text, honest);
  const long = '👋'.repeat(CHAT_TEXT_MAX + 10); // 2 UTF-16 units each
  const cut = chat.add('bob', long).text;
  assert.equal(Array.from(cut).length, CHAT_TEXT_MAX);
  assert.ok(cut.endsWith('👋…'), 'no half emoji before the mark');
  // an emoji line that fits in code points but not in UTF-16 units is whole
  const emojis = '👋'.repeat(CHAT_TEXT_MAX);
  assert.equal(chat.add('bob', emojis).text, emojis);
});

test('history is bounded: the oldest lines are dropped and views are told how many', () => {
  const chat = log({ limit: 3 });
  const dropped = [];
  chat.on('drop', (n) => dropped.push(n));
  for (let i = 1; i <= 5; i++) chat.add('bob', 'm' + i);
  assert.deepEqual(chat.entries.map((e) => e.text), ['m3', 'm4', 'm5']);
  assert.deepEqual(dropped, [1, 1]);
});

test('clear empties the log and tells views; sequence numbers keep increasing', () => {
  const chat = log();
  let cleared = 0;
  chat.on('clear', () => cleared++);
  chat.add('bob', 'a');
  chat.clear();
  assert.equal(cleared, 1);
  assert.deepEqual(chat.entries, []);
  assert.equal(chat.add('bob', 'b').seq, 2);
});

test('clock: hh:mm, zero-padded, local time', () => {
  assert.equal(clock(new Date(2026, 0, 1, 7, 4)), '07:04');
  assert.equal(clock(new Date(2026, 0, 1, 23, 59)), '23:59');
  assert.equal(clock(new Date(2026, 0, 1, 0, 0)), '00:00');
});
