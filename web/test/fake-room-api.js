// A stand-in for the Flashphoner Room API (the SDK's RoomApi: connect → session → join → room),
// with the SDK's own constant values, for testing core/room-session.js in Node without a browser.
// Tests drive it by firing the events the SDK would fire (fire(name, ...args)) and read what the
// session asked of it (the recorded options, calls and counters).

class Events {
  constructor() {
    this.handlers = new Map();
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
    return this;
  }

  fire(name, ...args) {
    for (const fn of this.handlers.get(name) || []) fn(...args);
  }
}

export const SESSION_STATUS = { ESTABLISHED: 'ESTABLISHED', DISCONNECTED: 'DISCONNECTED', FAILED: 'FAILED' };
export const STREAM_STATUS = {
  NEW: 'NEW', PUBLISHING: 'PUBLISHING', UNPUBLISHED: 'UNPUBLISHED', PLAYING: 'PLAYING', STOPPED: 'STOPPED', FAILED: 'FAILED',
};
export const STREAM_EVENT = 'STREAM_EVENT';
export const ROOM_EVENTS = { STATE: 'STATE', JOINED: 'JOINED', LEFT: 'LEFT', PUBLISHED: 'PUBLISHED', MESSAGE: 'MESSAGE', FAILED: 'FAILED' };

/** A published or played stream: status changes fire the status as an event, like the SDK. */
export class FakeStream extends Events {
  constructor(opts) {
    super();
    this.opts = opts;
    this.state = STREAM_STATUS.NEW;
    this.audioMuted = false;
    this.videoMuted = false;
    this.remoteAudioMuted = false;
    this.stopCalls = 0;
    this.unmuteRemoteCalls = 0;
    this.info = '';
  }

  status() { return this.state; }
  getInfo() { return this.info; }
  setStatus(state) {
    this.state = state;
    this.fire(state, this);
  }

  stop() {
    this.stopCalls++;
    this.setStatus(STREAM_STATUS.STOPPED);
  }

  isAudioMuted() { return this.audioMuted; }
  isVideoMuted() { return this.videoMuted; }
  muteAudio() { this.audioMuted = true; }
  unmuteAudio() { this.audioMuted = false; }
  muteVideo() { this.videoMuted = true; }
  unmuteVideo() { this.videoMuted = false; }
  isRemoteAudioMuted() { return this.remoteAudioMuted; }
  unmuteRemoteAudio() {
    this.unmuteRemoteCalls++;
    this.remoteAudioMuted = false;
  }
}

/** A stream as the room lists it (participant.getStreams()); play() records the played stream. */
export class FakeRoomStream {
  constructor(name) {
    this.name = name;
    this.played = [];
  }

  streamName() { return this.name; }
  play(display, opts) {
    const s = new FakeStream({ display, ...opts });
    this.played.push(s);
    return s;
  }
}

export class FakeParticipant {
  constructor(login, streamNames = []) {
    this.login = login;
    this.streams = streamNames.map((n) => new FakeRoomStream(n));
    this.sent = [];
    this.failDelivery = false;
  }

  name() { return this.login; }
  getStreams() { return this.streams; }
  sendMessage(text, onFailure) {
    this.sent.push(text);
    if (this.failDelivery) onFailure();
  }
}

export class FakeRoom extends Events {
  constructor(opts) {
    super();
    this.opts = opts;
    this.participants = [];
    this.published = [];
    this.leaveCalls = 0;
  }

  name() { return this.opts.name; }
  getParticipants() { return this.participants; }
  publish(opts) {
    const s = new FakeStream(opts);
    this.published.push(s);
    return s;
  }

  leave() {
    this.leaveCalls++;
    return Promise.resolve();
  }
}

export class FakeConnection extends Events {
  constructor(opts) {
    super();
    this.opts = opts;
    this.rooms = [];
    this.disconnectCalls = 0;
  }

  username() { return this.opts.username; }
  join(opts) {
    const room = new FakeRoom(opts);
    this.rooms.push(room);
    return room;
  }

  disconnect() { this.disconnectCalls++; }
}

/** The RoomApi object; `mediaError` makes getMediaAccess reject (camera refused). */
export function fakeRoomApi() {
  const api = {
    connections: [],
    mediaError: null,
    mediaRequests: [],
    released: [],
    events: ROOM_EVENTS,
    connect(opts) {
      const c = new FakeConnection(opts);
      api.connections.push(c);
      return c;
    },
    sdk: {
      constants: { SESSION_STATUS, STREAM_STATUS, STREAM_EVENT },
      init() {},
      getMediaAccess(constraints, display) {
        api.mediaRequests.push({ constraints, display });
        return api.mediaError ? Promise.reject(api.mediaError) : Promise.resolve(display);
      },
      releaseLocalMedia(display) {
        api.released.push(display);
      },
    },
    get connection() {
      return api.connections[api.connections.length - 1] || null;
    },
    get room() {
      const c = api.connection;
      return (c && c.rooms[c.rooms.length - 1]) || null;
    },
  };
  return api;
}

/** RoomSession's `slots`: records every slot; refuse(login, name) → no slot (e.g. a third person). */
export function fakeSlots(refuse = () => false) {
  const slots = {
    byName: new Map(),
    stream(login, name, screen) {
      if (refuse(login, name)) return null;
      const slot = {
        login, screen, display: { for: name }, state: 'shown', unmute: null,
        playing() { slot.state = 'playing'; },
        gone() { slot.state = 'gone'; },
        soundBlocked(unmute) { slot.unmute = unmute; },
      };
      slots.byName.set(name, slot);
      return slot;
    },
  };
  return slots;
}

/** setInterval/clearInterval run by hand: tick() calls every active interval once. */
export function manualTimers() {
  const active = new Map();
  let next = 0;
  return {
    setInterval(fn) {
      active.set(++next, fn);
      return next;
    },
    clearInterval(id) {
      active.delete(id);
    },
    tick() {
      for (const fn of Array.from(active.values())) fn();
    },
    get active() {
      return active.size;
    },
  };
}
