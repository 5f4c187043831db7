// The chat as data: messages from people and notes from the app, in arrival order, bounded.
// Views subscribe ('add', 'drop', 'clear') and render entries as text. No DOM.
import { Emitter } from './emitter.js';
import { plainText } from './text.js';

/** The chat input's maxlength: an honest line is never cut, a longer one from a modified client is. */
export const CHAT_TEXT_MAX = 2000;
export const NAME_MAX = 128;
/** Lines kept; older ones are dropped so a chatty (or spamming) room cannot grow the page forever. */
export const CHAT_HISTORY = 500;

/** hh:mm in the viewer's local time. */
export function clock(date) {
  return String(date.getHours()).padStart(2, '0') + ':' + String(date.getMinutes()).padStart(2, '0');
}

export class ChatLog extends Emitter {
  /** now(): the time stamp of new lines (tests pass a fixed clock); limit: lines kept. */
  constructor({ now = () => new Date(), limit = CHAT_HISTORY } = {}) {
    super();
    this.now = now;
    this.limit = limit;
    this.entries = [];
    this.seq = 0;
  }

  /** A message from a person; mine: sent by this page. Returns the entry. */
  add(from, text, mine = false) {
    return this.push({ kind: 'message', from: plainText(from, NAME_MAX), text: plainText(text, CHAT_TEXT_MAX), mine: !!mine });
  }

  /** A note from the app (joined, left, delivery problems). */
  note(text) {
    return this.push({ kind: 'note', text: plainText(text, CHAT_TEXT_MAX) });
  }

  clear() {
    this.entries = [];
    this.emit('clear');
  }

  push(fields) {
    const entry = Object.freeze({ seq: ++this.seq, at: this.now(), ...fields });
    this.entries.push(entry);
    this.emit('add', entry);
    const excess = this.entries.length - this.limit;
    if (excess > 0) {
      this.entries.splice(0, excess);
      this.emit('drop', excess);
    }
    return entry;
  }
}
