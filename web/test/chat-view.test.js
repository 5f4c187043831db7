// ui/chat-view.js on a fake DOM: lines in the model's order, text rendered as text (never markup),
// dropped and cleared lines leave the page, and the form sends only non-blank lines.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ChatLog } from '../client/js/core/chat-log.js';
import { ChatView } from '../client/js/ui/chat-view.js';
import { FakeElement, installFakeDocument } from './fake-dom.js';

let uninstall;
beforeEach(() => { uninstall = installFakeDocument(); });
afterEach(() => uninstall());

function setup(limit) {
  const chat = new ChatLog({ now: () => new Date(2026, 10, 30, 9, 7), limit });
  const ui = { log: new FakeElement('ol'), form: new FakeElement('form'), input: new FakeElement('input'), button: new FakeElement('button') };
  const sent = [];
  const view = ChatView(chat, ui, (text) => sent.push(text));
  return { chat, ui, sent, view };
}

/** What each line shows: [class, data-from, visible text]. */
const lines = (log) => log.children.map((li) => [li.className, li.dataset.from, li.textContent]);

test('lines appear in the model\'s order: time, sender (you), text; notes in between', () => {
  const { chat, ui } = setup();
  chat.add('bob', 'first');
  chat.note('carol joined');
  chat.add('alice', 'second', true);
  assert.deepEqual(lines(ui.log), [
    ['message', 'bob', '09:07bob: first'],
    ['system', undefined, '09:07carol joined'],
    ['message mine', 'alice', '09:07alice (you): second'],
  ]);
  assert.equal(ui.log.scrollTop, ui.log.scrollHeight, 'scrolled to the newest line');
});

test('markup from another person is shown as text: no element is made from it', () => {
  const { chat, ui } = setup();
  const evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
  chat.add('<b>eve</b>', evil);
  const [li] = ui.log.children;
  assert.equal(li.findAll('text')[0].textContent, evil);
  assert.equal(li.findAll('from')[0].textContent, '<b>eve</b>');
  const tags = (el) => el.children.flatMap((c) => [c.tagName, ...tags(c)]);
  assert.deepEqual(tags(li), ['SPAN', 'SPAN', 'SPAN'], 'time, from, text: nothing else');
});

test('dropped history and clear remove lines from the page', () => {
  const { chat, ui } = setup(2);
  for (const t of ['a', 'b', 'c']) chat.add('bob', t);
  assert.deepEqual(ui.log.children.map((li) => li.findAll('text')[0].textContent), ['b', 'c']);
  chat.clear();
  assert.equal(ui.log.children.length, 0);
});

test('the form sends a non-blank line, then empties the input and keeps the focus there', () => {
  const { ui, sent, view } = setup();
  assert.equal(ui.input.disabled, true, 'disabled until joined');
  view.enable(true);
  assert.deepEqual([ui.input.disabled, ui.button.disabled], [false, false]);
  ui.input.value = '   ';
  assert.equal(ui.form.dispatch('submit'), true, 'the page never navigates');
  assert.deepEqual(sent, []);
  assert.equal(ui.input.value, '   ', 'a blank line stays for editing');
  ui.input.value = ' hello ';
  ui.form.dispatch('submit');
  assert.deepEqual(sent, [' hello ']);
  assert.equal(ui.input.value, '');
  assert.equal(ui.input.focused, 1);
});
