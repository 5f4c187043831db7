// The chat panel: renders a ChatLog into the log (<ol role="log" aria-live>) and sends from the
// form. Text is rendered with textContent only, never as markup.
import { clock } from '../core/chat-log.js';

function lineFor(entry) {
  const li = document.createElement('li');
  li.className = entry.kind === 'note' ? 'system' : entry.mine ? 'message mine' : 'message';
  const time = document.createElement('span');
  time.className = 'time';
  time.textContent = clock(entry.at);
  li.appendChild(time);
  if (entry.kind === 'note') {
    li.appendChild(document.createTextNode(entry.text));
    return li;
  }
  li.dataset.from = entry.from;
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = entry.mine ? entry.from + ' (you)' : entry.from;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = entry.text;
  li.append(who, document.createTextNode(': '), body);
  return li;
}

/** chat: ChatLog; send(text): called for each non-empty line. Returns {enable(on)}. */
export function ChatView(chat, { log, form, input, button }, send) {
  chat.on('add', (entry) => {
    log.appendChild(lineFor(entry));
    log.scrollTop = log.scrollHeight;
  }).on('drop', (n) => {
    for (let i = 0; i < n && log.firstElementChild; i++) log.firstElementChild.remove();
  }).on('clear', () => log.replaceChildren());

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    send(text);
    input.value = '';
    input.focus();
  });

  function enable(on) {
    input.disabled = !on;
    button.disabled = !on;
  }
  enable(false);
  return { enable };
}
