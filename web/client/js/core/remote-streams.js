// The other participants' streams this page plays: one SDK stream per room stream name, shown in a
// slot the page provides, released when the stream stops, its owner leaves, or the room stops
// listing it. No DOM: the slots are opaque to this module.
import { isScreenStream } from './urls.js';

export class RemoteStreams {
  /**
   * slots.stream(login, streamName, isScreen) -> {display, playing(), gone(), soundBlocked(unmute)} | null
   *   (null: the page shows no such stream, e.g. a third person in a two-way chat);
   * constants: the SDK's {STREAM_STATUS, STREAM_EVENT}.
   */
  constructor(slots, { STREAM_STATUS, STREAM_EVENT }) {
    this.slots = slots;
    this.STREAM = STREAM_STATUS;
    this.STREAM_EVENT = STREAM_EVENT;
    this.playing = new Map(); // stream name -> {stream, login, slot, gone()}
  }

  /** Names of the streams being played, in the order they started. */
  names() {
    return Array.from(this.playing.keys());
  }

  /** Play `roomStream` (participant.getStreams()[i]) of `login`, unless it is already played or has no slot. */
  play(login, roomStream) {
    const name = roomStream.streamName();
    if (this.playing.has(name)) return;
    const slot = this.slots.stream(login, name, isScreenStream(name));
    if (!slot) return;
    const stream = roomStream.play(slot.display, {
      unmutePlayOnStart: true,
      constraints: { audio: { deviceId: 'default' } },
    });
    const entry = { stream, login, slot };
    entry.gone = () => {
      if (this.playing.get(name) !== entry) return;
      this.playing.delete(name);
      slot.gone();
    };
    this.playing.set(name, entry);
    const S = this.STREAM;
    stream.on(S.PLAYING, () => slot.playing())
      .on(S.STOPPED, entry.gone)
      .on(S.FAILED, entry.gone)
      .on(this.STREAM_EVENT, (e) => {
        // The browser blocked sound until the person interacts with the page: the page offers a button.
        // (SDK 2.0.276 fires this "UNMUTE_REQUIRED" event with type undefined: the constant is
        // missing from its STREAM_EVENT_TYPE, so check the element's audio state instead.)
        if (e && (!e.type || /unmute/i.test(e.type)) && stream.isRemoteAudioMuted()) {
          slot.soundBlocked(() => stream.unmuteRemoteAudio());
        }
      });
  }

  /** A participant left: stop and release every stream of theirs. */
  releaseFrom(login) {
    for (const entry of Array.from(this.playing.values())) {
      if (entry.login !== login) continue;
      entry.gone();
      this.stopQuietly(entry.stream);
    }
  }

  /**
   * Stop and release every played stream not in `listed` (the names the room lists now). The
   * room's UNPUBLISHED event only removes the stream from its participant inside the SDK (no
   * callback), and the stream's own STOPPED may come late or never.
   */
  reconcile(listed) {
    for (const [name, entry] of Array.from(this.playing.entries())) {
      if (listed.has(name)) continue;
      this.stopQuietly(entry.stream);
      entry.gone();
    }
  }

  /** Forget every stream (the SDK itself stops a room's streams on leave and fails them on disconnect). */
  clear() {
    this.playing.clear();
  }

  stopQuietly(stream) {
    const st = stream.status();
    if (st === this.STREAM.STOPPED || st === this.STREAM.FAILED) return;
    try {
      stream.stop();
    } catch (_) { /* already gone */ }
  }
}
