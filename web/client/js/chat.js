// Text chat: a log (role=log, aria-live) and a send form. Rendering uses textContent only.
(function () {
  'use strict';
  const Huddle = (window.Huddle = window.Huddle || {});

  function hhmm(d) {
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
  }

  /**
   * log: <ol>, form: <form>, input: <input>. onSend(text) is called for each non-empty line
   * and returns the number of people it was sent to.
   */
  function Chat(log, form, input, button, onSend) {
    function scroll() {
      log.scrollTop = log.scrollHeight;
    }
    function line(cls) {
      const li = document.createElement('li');
      if (cls) li.className = cls;
      const time = document.createElement('span');
      time.className = 'time';
      time.textContent = hhmm(new Date());
      li.appendChild(time);
      return li;
    }
    /** A message from a person. */
    function add(from, text, mine) {
      const li = line(mine ? 'message mine' : 'message');
      li.dataset.from = from;
      const who = document.createElement('span');
      who.className = 'from';
      who.textContent = mine ? from + ' (you)' : from;
      const body = document.createElement('span');
      body.className = 'text';
      body.textContent = text;
      li.append(who, document.createTextNode(': '), body);
      log.appendChild(li);
      scroll();
    }
    /** A note from the app (joined, left, errors). */
    function note(text) {
      const li = line('system');
      li.appendChild(document.createTextNode(text));
      log.appendChild(li);
      scroll();
    }
    function enable(on) {
      input.disabled = !on;
      button.disabled = !on;
    }
    function clear() {
      log.replaceChildren();
    }
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      const sentTo = onSend(text);
      input.value = '';
      input.focus();
      if (sentTo === 0) note('Nobody else is in the room yet: your message was not delivered.');
    });
    enable(false);
    return { add, note, enable, clear };
  }

  Huddle.Chat = Chat;
})();
