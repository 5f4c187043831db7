// One person's session in one room, with no DOM: camera access → ICE servers → connect → join →
// publish the camera → play the others' streams; who is in the room; chat; mute; leave.
// It drives the official Flashphoner Room API passed in (`api`: the SDK's RoomApi) and tells the
// page what happened through events. The others' streams are kept by RemoteStreams
// (remote-streams.js), which asks `slots` (the page's tiles) where to show each one.
// Tests pass a fake RoomApi and fake slots.
//
// Events (Emitter): 'state' (idle|connecting|joined|leaving), 'status' (the SDK session status
// text), 'error' (text, '' clears), 'participant-joined' / 'participant-left' (login),
// 'joined' (room name), 'left', 'local-media' (camera on/off), 'local' ({live, audioMuted, videoMuted}).
import { Emitter } from './emitter.js';
import { ChatLog } from './chat-log.js';
import { RemoteStreams } from './remote-streams.js';

/** Camera + microphone constraints: a fresh object each time, as the SDK may normalize it in place. */
const camera = () => ({ audio: true, video: true });

/** What an error thrown by the browser or SDK says, in a few words. */
function describe(e) {
  return (e && (e.name || e.message)) || String(e);
}

export class RoomSession extends Emitter {
  /**
   * api: RoomApi ({connect, events, sdk}); serverUrl: ws(s)://host:port;
   * iceServers(): Promise<RTCIceServer[]>; maxPeople: limit including me (null: the server decides);
   * slots: where remote streams are shown (see RemoteStreams);
   * timers: {setInterval, clearInterval}; reconcileMs: how often played streams are checked
   * against the room's list; chat: the ChatLog to fill.
   */
  constructor({ api, serverUrl, iceServers = async () => [], maxPeople = null, slots, timers = globalThis, reconcileMs = 1000, chat = new ChatLog() }) {
    super();
    this.api = api;
    this.sdk = api.sdk;
    this.SESSION = this.sdk.constants.SESSION_STATUS;
    this.STREAM = this.sdk.constants.STREAM_STATUS;
    this.ROOM = api.events;
    this.serverUrl = serverUrl;
    this.iceServers = iceServers;
    this.maxPeople = maxPeople;
    this.timers = timers;
    this.reconcileMs = reconcileMs;
    this.chat = chat;

    this.state = 'idle';
    this.status = this.SESSION.DISCONNECTED;
    this.error = '';
    this.login = '';
    this.connection = null;
    this.room = null;
    this.roomName = '';
    this.recordRequested = false;
    this.localDisplay = null;
    this.localStream = null;
    this.participants = []; // logins of the others, in the order they were seen
    this.streams = new RemoteStreams(slots, this.sdk.constants); // the others' streams this page plays
    this.reconcileTimer = null;
  }

  // ---- state the page shows -------------------------------------------------------------------
  setState(state) {
    this.state = state;
    this.emit('state', state);
  }

  setStatus(status) {
    this.status = status;
    this.emit('status', status);
  }

  setError(text) {
    this.error = text || '';
    this.emit('error', this.error);
  }

  /** The camera stream as the mute buttons show it. */
  localState() {
    const s = this.localStream;
    const live = !!s && s.status() === this.STREAM.PUBLISHING;
    return { live, audioMuted: live && s.isAudioMuted(), videoMuted: live && s.isVideoMuted() };
  }

  emitLocal() {
    this.emit('local', this.localState());
  }

  // ---- join / leave -----------------------------------------------------------------------------
  /**
   * Start joining: login and room are trimmed; record: undefined leaves it out of the join request
   * (apps without the option), true/false sends it; localDisplay: where the SDK shows the camera.
   * Returns {ok: false, field: 'login'|'room', message} (nothing started) or {ok: true, done}
   * where done resolves once the attempt is connected or has failed.
   */
  join({ login, room, record, localDisplay }) {
    login = String(login ?? '').trim();
    const roomName = String(room ?? '').trim();
    if (this.state !== 'idle') return { ok: false, field: null, message: 'Already in a room.' };
    if (!login) return this.invalid('login', 'Please enter your name.');
    if (!roomName) return this.invalid('room', 'Please enter a room name.');
    this.setError('');
    this.chat.clear();
    this.login = login;
    this.localDisplay = localDisplay;
    this.setState('connecting');
    this.setStatus('CONNECTING');
    // Ask for camera and microphone first, so a refusal is reported before anything else.
    let access;
    try {
      access = Promise.resolve(this.sdk.getMediaAccess(camera(), localDisplay));
    } catch (e) {
      access = Promise.reject(e);
    }
    const done = access.then(() => {
      this.emit('local-media', true);
      // without the ICE servers list the session still works (no TURN): never a reason to stop
      return Promise.resolve()
        .then(() => this.iceServers())
        .catch(() => [])
        .then((iceServers) => this.connect(login, roomName, record, iceServers))
        .catch((e) => this.failStart('Could not connect to the server at ' + this.serverUrl + ' (' + describe(e) + ').', e));
    }, (e) => this.failStart('Camera and microphone are not available (' + describe(e) + '). Allow access in the browser and try again.', e));
    return { ok: true, done };
  }

  /** A join that could not start: say why, back to idle, camera released. */
  failStart(message, cause) {
    console.error(message, cause);
    this.setError(message);
    this.setStatus(this.SESSION.DISCONNECTED);
    this.cleanup();
  }

  invalid(field, message) {
    this.setError(message);
    return { ok: false, field, message };
  }

  connect(login, roomName, record, iceServers) {
    // mediaOptions is the SDK's RTCPeerConnection configuration for every stream.
    const connection = this.api.connect({
      urlServer: this.serverUrl,
      username: login,
      mediaOptions: { iceServers: iceServers || [] },
    });
    this.connection = connection;
    const { ESTABLISHED, DISCONNECTED, FAILED } = this.SESSION;
    // Events of a connection this session has already dropped are stale: ignore them.
    connection.on(ESTABLISHED, () => {
      if (this.connection !== connection) return;
      this.setStatus(ESTABLISHED);
      this.joinRoom(connection, roomName, record);
    }).on(DISCONNECTED, () => {
      if (this.connection !== connection) return;
      this.setStatus(DISCONNECTED);
      if (this.state === 'joined') this.setError('The connection to the server was closed.');
      this.cleanup();
    }).on(FAILED, () => {
      if (this.connection !== connection) return;
      this.setStatus(FAILED);
      if (this.state === 'joined') this.setError('The connection to the server was lost.');
      else if (!this.error) this.setError('Could not connect to the server at ' + this.serverUrl + '.');
      this.cleanup();
    });
  }

  joinRoom(connection, roomName, record) {
    const opts = { name: roomName };
    if (record !== undefined) opts.record = !!record;
    this.recordRequested = !!opts.record;
    const room = connection.join(opts);
    this.room = room;
    const R = this.ROOM;
    // Events of a room this session has left are stale: ignore them (FAILED too: it ends this room).
    const live = (fn) => (...args) => {
      if (this.room === room) fn(...args);
    };
    room.on(R.STATE, live((r) => this.onRoomState(r)))
      .on(R.JOINED, live((p) => {
        this.addParticipant(p.name());
        this.chat.note(p.name() + ' joined');
        this.playAll(p);
      }))
      .on(R.LEFT, live((p) => {
        const login = p ? p.name() : '';
        this.streams.releaseFrom(login);
        this.removeParticipant(login);
        this.chat.note(login + ' left');
      }))
      .on(R.PUBLISHED, live((p) => this.playAll(p)))
      .on(R.FAILED, live((r, info) => {
        // The server refused the join (e.g. "Room is full"): show why and drop the session.
        const why = info || 'unknown reason';
        this.setError('Could not join room “' + roomName + '”: ' + why +
          (/full/i.test(why) ? '. Try again later or pick another room.' : ''));
        this.room = null;
        connection.disconnect();
      }))
      .on(R.MESSAGE, live((m) => {
        this.chat.add(m && m.from ? m.from.name() : '(unknown)', String(m && m.text));
      }));
  }

  onRoomState(room) {
    const others = room.getParticipants();
    if (this.maxPeople && others.length + 1 > this.maxPeople) {
      this.setError('Room “' + room.name() + '” is full: this app is for ' + this.maxPeople +
        ' people and ' + others.length + ' are already in it. Try another room.');
      this.leave();
      return;
    }
    this.roomName = room.name();
    this.setState('joined');
    this.chat.note(others.length ? 'In the room: ' + others.map((p) => p.name()).join(', ') : 'You are the first one here.');
    // Publish before playing: the others see us only after our publish, their plays of it and a
    // keyframe (more round trips than our plays take), so it starts first (issue 11, far links).
    this.publishCamera(room);
    for (const p of others) {
      this.addParticipant(p.name());
      this.playAll(p);
    }
    this.timers.clearInterval(this.reconcileTimer);
    this.reconcileTimer = this.timers.setInterval(() => this.reconcile(), this.reconcileMs);
    this.emit('joined', this.roomName);
  }

  /** Leave the room and close the session; resolves when the page is back to idle. */
  leave() {
    const room = this.room;
    if (!room) {
      this.cleanup();
      return Promise.resolve();
    }
    this.setState('leaving');
    const done = () => {
      const c = this.connection;
      this.cleanup();
      this.setStatus(this.SESSION.DISCONNECTED);
      if (c) c.disconnect();
    };
    return Promise.resolve(room.leave()).then(done, done);
  }

  /** The page is going away: leave explicitly so the others see it at once (a dropped socket waits for the grace period). */
  pageHidden() {
    if (!this.room || this.state !== 'joined') return;
    try {
      this.room.leave();
    } catch (_) { /* page is going away */ }
  }

  /** Back to idle; releases the camera. The SDK itself stops this room's streams on leave() and fails them all on disconnect. */
  cleanup() {
    this.timers.clearInterval(this.reconcileTimer);
    this.reconcileTimer = null;
    this.connection = null;
    this.room = null;
    this.localStream = null;
    this.streams.clear();
    this.participants = [];
    this.emit('left');
    try {
      this.sdk.releaseLocalMedia(this.localDisplay);
    } catch (_) { /* nothing to release */ }
    this.emit('local-media', false);
    this.setState('idle');
    this.emitLocal();
  }

  // ---- who is in the room --------------------------------------------------------------------
  addParticipant(login) {
    if (this.participants.includes(login)) return;
    this.participants.push(login);
    this.emit('participant-joined', login);
  }

  removeParticipant(login) {
    if (!this.participants.includes(login)) return;
    this.participants = this.participants.filter((l) => l !== login);
    this.emit('participant-left', login);
  }

  // ---- media --------------------------------------------------------------------------------------
  publishCamera(room) {
    const stream = room.publish({
      display: this.localDisplay,
      constraints: camera(),
      record: false,
      receiveVideo: false,
      receiveAudio: false,
    });
    this.localStream = stream;
    const S = this.STREAM;
    stream.on(S.PUBLISHING, () => {
      this.emit('local-media', true);
      this.emitLocal();
    }).on(S.UNPUBLISHED, () => this.emitLocal())
      .on(S.FAILED, (s) => {
        const info = (s || stream).getInfo();
        this.setError('Your camera could not be published' + (info ? ': ' + info : '.'));
        this.emitLocal();
      });
  }

  toggleAudio() {
    const s = this.localStream;
    if (!s) return;
    if (s.isAudioMuted()) s.unmuteAudio();
    else s.muteAudio();
    this.emitLocal();
  }

  toggleVideo() {
    const s = this.localStream;
    if (!s) return;
    if (s.isVideoMuted()) s.unmuteVideo();
    else s.muteVideo();
    this.emitLocal();
  }

  playAll(participant) {
    if (!participant || !this.room) return;
    for (const s of participant.getStreams()) this.streams.play(participant.name(), s);
  }

  /**
   * Played streams the room no longer lists are stopped and released (see RemoteStreams.reconcile).
   */
  reconcile() {
    if (!this.room) return;
    const listed = new Set();
    for (const p of this.room.getParticipants()) for (const s of p.getStreams()) listed.add(s.streamName());
    this.streams.reconcile(listed);
  }

  // ---- chat -------------------------------------------------------------------------------------
  /** Send a line to everyone else in the room; returns how many it was sent to. */
  sendChat(text) {
    text = String(text ?? '');
    if (!text.trim()) return 0;
    let sent = 0;
    if (this.room && this.connection) {
      const others = this.room.getParticipants();
      this.chat.add(this.connection.username(), text, true);
      for (const p of others) {
        p.sendMessage(text, () => this.chat.note('Could not deliver your message to ' + p.name() + '.'));
      }
      sent = others.length;
    }
    if (sent === 0) this.chat.note('Nobody else is in the room yet: your message was not delivered.');
    return sent;
  }
}
