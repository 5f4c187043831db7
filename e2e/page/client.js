// Small test driver around the official Flashphoner Room API (global `RoomApi`).
// It behaves like the SDK's conference demo (examples/demo/streaming/conference/conference.js):
// connect -> join -> on STATE/PUBLISHED play the other participants' streams.
// Everything observable is recorded in H.events so that the Node side can wait for it.
(function () {
  'use strict';
  const Flashphoner = RoomApi.sdk;
  const SESSION_STATUS = Flashphoner.constants.SESSION_STATUS;
  const STREAM_STATUS = Flashphoner.constants.STREAM_STATUS;
  const ROOM_EVENT = RoomApi.events;

  Flashphoner.init({});

  const H = {
    events: [],
    connection: null,
    room: null,
    published: {}, // local stream name -> SDK stream
    playing: {}, // remote stream name -> SDK stream
    autoPlay: true,
  };
  window.H = H;

  // Every promise handed to the test settles: on its own or after `ms`.
  function bounded(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        const errors = H.events.filter((e) => e.type === 'PAGE_ERROR').map((e) => e.message);
        reject(new Error(what + ': no answer within ' + ms + ' ms' + (errors.length ? '; page errors: ' + errors.join(' | ') : '')));
      }, ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  function ev(type, fields) {
    H.events.push(Object.assign({ type: type, t: Date.now() }, fields || {}));
  }

  window.addEventListener('error', (e) => ev('PAGE_ERROR', { message: String(e.message) }));
  window.addEventListener('unhandledrejection', (e) =>
    ev('PAGE_ERROR', { message: 'unhandled rejection: ' + String(e.reason && (e.reason.message || e.reason)) }));

  function displayFor(streamName) {
    const id = 'play-' + streamName;
    let div = document.getElementById(id);
    if (!div) {
      div = document.createElement('div');
      div.id = id;
      div.className = 'tile';
      div.dataset.stream = streamName;
      document.getElementById('remotes').appendChild(div);
    }
    return div;
  }

  function playStream(participant, s) {
    const name = s.streamName();
    if (H.playing[name]) return;
    const opts = { unmutePlayOnStart: true, constraints: { audio: { deviceId: 'default' } } };
    if (H.playTransport) opts.transport = H.playTransport; // the SDK's "UDP" / "TCP" option
    const stream = s.play(displayFor(name), opts);
    H.playing[name] = stream;
    ev('PLAY_REQUESTED', { name: name, login: participant.name() });
    stream.on(STREAM_STATUS.PLAYING, (st) => ev('PLAYING', { name: name, id: st.id() }))
      .on(STREAM_STATUS.STOPPED, (st) => { delete H.playing[name]; ev('STOPPED', { name: name, info: st.getInfo() }); })
      .on(STREAM_STATUS.FAILED, (st) => { delete H.playing[name]; ev('PLAY_FAILED', { name: name, info: st.getInfo() }); });
  }

  function playAll(participant) {
    if (!H.autoPlay) return;
    for (const s of participant.getStreams()) playStream(participant, s);
  }

  H.connect = function (url, username) {
    return bounded(new Promise((resolve, reject) => {
      H.connection = RoomApi.connect({ urlServer: url, username: username })
        .on(SESSION_STATUS.ESTABLISHED, (c) => { ev('ESTABLISHED'); resolve(c.status()); })
        .on(SESSION_STATUS.FAILED, (c) => { ev('SESSION_FAILED'); reject(new Error('session ' + c.status())); })
        .on(SESSION_STATUS.DISCONNECTED, (c) => { ev('DISCONNECTED'); reject(new Error('session ' + c.status())); });
    }), 15000, 'connect');
  };

  H.status = function () {
    return H.connection ? H.connection.status() : null;
  };

  // Resolves with the other participants' names once STATE arrives; rejects on join FAILED.
  H.join = function (roomName, opts) {
    opts = opts || {};
    if (opts.autoPlay === false) H.autoPlay = false;
    return bounded(new Promise((resolve, reject) => {
      const joinOpts = { name: roomName };
      if (opts.record !== undefined) joinOpts.record = opts.record;
      H.room = H.connection.join(joinOpts)
        .on(ROOM_EVENT.STATE, (room) => {
          const ps = room.getParticipants();
          ev('STATE', {
            participants: ps.map((p) => p.name()),
            streams: ps.map((p) => p.getStreams().map((s) => s.streamName())),
          });
          // opts.publish: publish the camera on STATE, before playing the others, as Huddle's apps
          // do (web/client/js/core/room-session.js onRoomState); H.statePublish settles like H.publish.
          if (opts.publish) H.statePublish = H.publish(opts.publish);
          ps.forEach(playAll);
          resolve(ps.map((p) => p.name()));
        })
        .on(ROOM_EVENT.JOINED, (p) => { ev('JOINED', { login: p.name() }); playAll(p); })
        .on(ROOM_EVENT.LEFT, (p) => ev('LEFT', { login: p ? p.name() : null }))
        .on(ROOM_EVENT.PUBLISHED, (p) => {
          ev('PUBLISHED', { login: p.name(), streams: p.getStreams().map((s) => s.streamName()) });
          playAll(p);
        })
        .on(ROOM_EVENT.MESSAGE, (m) => ev('MESSAGE', { from: m.from ? m.from.name() : null, text: m.text }))
        .on(ROOM_EVENT.FAILED, (room, info) => { ev('JOIN_FAILED', { info: info }); reject(new Error('join failed: ' + info)); });
    }), 15000, 'join');
  };

  // Manual play (when joined with autoPlay:false): play every stream of `login` not yet played.
  H.play = function (login) {
    const p = H.room.getParticipants().find((x) => x.name() === login);
    if (!p) throw new Error('no participant ' + login);
    for (const s of p.getStreams()) playStream(p, s);
    return p.getStreams().map((s) => s.streamName());
  };

  H.participants = function () {
    return H.room ? H.room.getParticipants().map((p) => p.name()) : [];
  };

  H.participantStreams = function () {
    const out = {};
    if (H.room) for (const p of H.room.getParticipants()) out[p.name()] = p.getStreams().map((s) => s.streamName());
    return out;
  };

  // Point-to-point message, as the SDK offers it (the demos loop over participants).
  H.sendMessage = function (to, text) {
    const p = H.room.getParticipants().find((x) => x.name() === to);
    if (!p) throw new Error('no participant ' + to);
    p.sendMessage(text, () => ev('SEND_FAILED', { to: to, text: text }));
  };

  H.leave = function () {
    return bounded(H.room.leave(), 15000, 'leave').then(() => { ev('LEFT_ROOM'); return 'ok'; }, () => { ev('LEAVE_FAILED'); return 'failed'; });
  };

  H.disconnect = function () {
    if (H.connection) H.connection.disconnect();
  };

  // Publish into the room; resolves with the stream name once PUBLISHING.
  H.publish = function (opts) {
    opts = opts || {};
    const screen = !!opts.screen;
    const display = document.getElementById(screen ? 'localScreen' : 'local');
    const publishOpts = {
      display: display,
      constraints: opts.constraints ||
        // as the SDK's video-chat-and-screen-sharing demo does (its default 30 fps, 640x480 inputs);
        // the SDK needs frameRate for a screen (it reads constraints.video.frameRate.ideal)
        (screen ? { video: { type: 'screen', withoutExtension: true, width: 640, height: 480, frameRate: 30 }, audio: false }
          : { audio: true, video: { width: 320, height: 240 } }),
      record: !!opts.record,
      receiveVideo: false,
      receiveAudio: false,
    };
    if (screen) { publishOpts.name = opts.name || 'screenShare'; publishOpts.cacheLocalResources = false; }
    else if (opts.name) publishOpts.name = opts.name;
    if (opts.stripCodecs) publishOpts.stripCodecs = opts.stripCodecs;
    if (opts.transport) publishOpts.transport = opts.transport;
    return bounded(new Promise((resolve, reject) => {
      const stream = H.room.publish(publishOpts);
      stream.on(STREAM_STATUS.PUBLISHING, (st) => {
        H.published[st.name()] = st;
        ev('PUBLISHING', { name: st.name(), id: st.id() });
        resolve(st.name());
      }).on(STREAM_STATUS.FAILED, (st) => {
        ev('PUBLISH_FAILED', { name: st.name(), info: st.getInfo() });
        reject(new Error('publish failed: ' + st.getInfo()));
      }).on(STREAM_STATUS.UNPUBLISHED, (st) => {
        delete H.published[st.name()];
        ev('UNPUBLISHED_LOCAL', { name: st.name() });
      });
    }), 20000, 'publish');
  };

  // Open the camera (and microphone) the way a later H.publish() asks for it, as Huddle's apps
  // do before they join (web/client/js/core/room-session.js): the SDK keeps the stream on the
  // display and its publish reuses it (same display, same constraints) instead of waiting for
  // getUserMedia again. Resolves 'ok' once the camera is open.
  H.prepareCamera = function (constraints) {
    const display = document.getElementById('local');
    const access = Promise.resolve().then(() => Flashphoner.getMediaAccess(constraints || { audio: true, video: { width: 320, height: 240 } }, display));
    return bounded(access.then(() => { ev('CAMERA_READY'); return 'ok'; }), 15000, 'camera');
  };

  H.forceCodecs = function (f) {
    window.__forceCodecs = f || {};
  };

  function pcForTracks(tracks) {
    return window.__pcs.find((pc) => pc.signalingState !== 'closed' &&
      pc.getReceivers().some((r) => r.track && tracks.includes(r.track)));
  }

  // The peer connection that plays into a remote tile's <video>, or null.
  function pcForVideo(v) {
    const tracks = v && v.srcObject && v.srcObject.getTracks ? v.srcObject.getTracks() : [];
    return tracks.length ? pcForTracks(tracks) : null;
  }

  // The server's answer (SDP) on the connection that plays stream `name`, or null.
  H.playAnswer = function (name) {
    const pc = pcForVideo(document.querySelector(`#remotes .tile[data-stream="${name}"] video`));
    return pc && pc.remoteDescription ? pc.remoteDescription.sdp : null;
  };

  async function inboundStats(pc) {
    const report = await pc.getStats();
    const byId = {};
    report.forEach((s) => { byId[s.id] = s; });
    const out = { video: null, audio: null, ice: null };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        const codec = s.codecId && byId[s.codecId] ? byId[s.codecId].mimeType : null;
        out[s.kind] = {
          codec: codec,
          packetsReceived: s.packetsReceived || 0,
          bytesReceived: s.bytesReceived || 0,
          framesDecoded: s.framesDecoded || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
          totalSamplesReceived: s.totalSamplesReceived || 0,
          decoderImplementation: s.decoderImplementation || null,
        };
      }
      if (s.type === 'transport' && s.selectedCandidatePairId && byId[s.selectedCandidatePairId]) {
        const pair = byId[s.selectedCandidatePairId];
        const l = byId[pair.localCandidateId] || {};
        const r = byId[pair.remoteCandidateId] || {};
        out.ice = { local: l.address + ':' + l.port, remote: r.address + ':' + r.port, protocol: l.protocol };
      }
    });
    return out;
  }

  // One entry per played remote stream: its <video> size and its inbound RTP stats.
  H.remoteStats = async function () {
    const out = {};
    for (const div of document.querySelectorAll('#remotes .tile')) {
      const name = div.dataset.stream;
      const v = div.querySelector('video');
      const entry = { name: name, status: H.playing[name] ? H.playing[name].status() : 'GONE', videoWidth: 0, videoHeight: 0, video: null, audio: null };
      if (v) {
        entry.videoWidth = v.videoWidth;
        entry.videoHeight = v.videoHeight;
        const pc = pcForVideo(v);
        if (pc) Object.assign(entry, await inboundStats(pc), { pcState: pc.connectionState });
      }
      out[name] = entry;
    }
    return out;
  };

  // --- Quality figures for the network lab (e2e/netlab/) -------------------------------------
  // First decoded frame of every played stream: the SDK puts a <video> into the stream's tile;
  // requestVideoFrameCallback fires when a frame is presented (Chromium and Firefox have it).
  const firstFrameAt = {};
  function watchFirstFrame(video, name) {
    if (video.__huddleWatched) return;
    video.__huddleWatched = true;
    const mark = () => {
      if (firstFrameAt[name] === undefined && video.videoWidth > 0) {
        firstFrameAt[name] = Date.now();
        ev('FIRST_FRAME', { name: name });
      }
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(mark);
    else video.addEventListener('loadeddata', mark);
    video.addEventListener('resize', mark);
  }
  new MutationObserver(() => {
    for (const div of document.querySelectorAll('#remotes .tile')) {
      const v = div.querySelector('video');
      if (v) watchFirstFrame(v, div.dataset.stream);
    }
  }).observe(document.getElementById('remotes'), { childList: true, subtree: true });

  const INBOUND_FIELDS = ['packetsReceived', 'packetsLost', 'bytesReceived', 'framesDecoded', 'framesPerSecond',
    'keyFramesDecoded', 'freezeCount', 'totalFreezesDuration', 'nackCount', 'pliCount', 'firCount',
    'concealedSamples', 'totalSamplesReceived', 'fecPacketsReceived', 'frameWidth', 'frameHeight'];
  const OUTBOUND_FIELDS = ['packetsSent', 'bytesSent', 'framesEncoded', 'framesPerSecond', 'keyFramesEncoded',
    'nackCount', 'pliCount', 'firCount', 'retransmittedPacketsSent', 'frameWidth', 'frameHeight',
    'qualityLimitationReason', 'targetBitrate'];

  function pick(s, fields) {
    const o = {};
    for (const f of fields) if (s[f] !== undefined) o[f] = s[f];
    return o;
  }

  // Per kind: the rtp stats of one peer connection (inbound or outbound), its codec and ICE pair.
  async function rtpStats(pc, type, fields) {
    const report = await pc.getStats();
    const byId = {};
    report.forEach((s) => { byId[s.id] = s; });
    const out = { video: null, audio: null, ice: null };
    // Outbound: what the server's receiver reports say of this stream (its loss as the server saw
    // it; Chrome's Opus encoder turns in-band FEC on from this loss).
    const remote = {};
    report.forEach((s) => {
      if (s.type === type && (s.kind === 'video' || s.kind === 'audio')) {
        const codec = s.codecId && byId[s.codecId] ? byId[s.codecId].mimeType : null;
        out[s.kind] = Object.assign({ codec: codec }, pick(s, fields));
      }
      if (type === 'outbound-rtp' && s.type === 'remote-inbound-rtp' && (s.kind === 'video' || s.kind === 'audio')) {
        remote[s.kind] = { remoteFractionLost: s.fractionLost, remotePacketsLost: s.packetsLost };
      }
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && !out.ice) {
        const l = byId[s.localCandidateId] || {};
        const r = byId[s.remoteCandidateId] || {};
        out.ice = { local: l.address + ':' + l.port, remote: r.address + ':' + r.port, protocol: l.protocol || r.protocol,
          relay: l.candidateType === 'relay', rtt: s.currentRoundTripTime };
      }
    });
    for (const k of ['video', 'audio']) if (out[k] && remote[k]) Object.assign(out[k], remote[k]);
    return out;
  }

  // Everything the lab measures, with the page's clock: per played stream the inbound video and
  // audio stats, when it was requested and first showed a frame; per published stream the
  // outbound stats (keyFramesEncoded, PLIs and NACKs received from the server).
  H.qualityStats = async function () {
    const out = { t: Date.now(), inbound: {}, outbound: {} };
    const requested = {};
    for (const e of H.events) if (e.type === 'PLAY_REQUESTED' && requested[e.name] === undefined) requested[e.name] = e;
    for (const div of document.querySelectorAll('#remotes .tile')) {
      const name = div.dataset.stream;
      const v = div.querySelector('video');
      const req = requested[name] || {};
      const entry = { login: req.login || null, status: H.playing[name] ? H.playing[name].status() : 'GONE', playRequestedAt: req.t || null,
        firstFrameAt: firstFrameAt[name] || null, videoWidth: v ? v.videoWidth : 0, video: null, audio: null, ice: null };
      const pc = pcForVideo(v);
      if (pc) Object.assign(entry, await rtpStats(pc, 'inbound-rtp', INBOUND_FIELDS), { pcState: pc.connectionState, timeline: pc.__timeline || null });
      out.inbound[name] = entry;
    }
    for (const [name, st] of Object.entries(H.published)) {
      const pc = window.__pcs.find((p) => p.signalingState !== 'closed' &&
        p.getSenders().some((s) => s.track && s.track.kind === 'video'));
      const entry = { status: st.status(), video: null, audio: null, ice: null };
      if (pc) Object.assign(entry, await rtpStats(pc, 'outbound-rtp', OUTBOUND_FIELDS), { pcState: pc.connectionState, timeline: pc.__timeline || null });
      out.outbound[name] = entry;
    }
    return out;
  };

  // A time series of every played video's receive figures, sampled every `ms` (NETLAB_TRACE=1 in
  // e2e/netlab/scenario.js): a freeze is a run of samples with framesDecoded standing still, and
  // the NACK / loss / resend counters beside it tell whether a packet was missing and resent.
  const TRACE_FIELDS = ['ssrc', 'packetsReceived', 'packetsLost', 'framesReceived', 'framesDecoded', 'framesDropped',
    'freezeCount', 'totalFreezesDuration', 'nackCount', 'pliCount', 'retransmittedPacketsReceived',
    'jitterBufferDelay', 'jitterBufferEmittedCount', 'jitterBufferTargetDelay', 'jitterBufferMinimumDelay'];
  H.startVideoTrace = function (ms) {
    const rows = [];
    H.videoTraceRows = rows;
    clearInterval(H.videoTraceTimer);
    H.videoTraceTimer = setInterval(async () => {
      for (const div of document.querySelectorAll('#remotes .tile')) {
        const pc = pcForVideo(div.querySelector('video'));
        if (!pc) continue;
        const t = Date.now();
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') rows.push(Object.assign({ t, stream: div.dataset.stream }, pick(s, TRACE_FIELDS)));
        });
      }
    }, ms);
  };
  H.stopVideoTrace = function () {
    clearInterval(H.videoTraceTimer);
    return H.videoTraceRows || [];
  };

  ev('PAGE_READY');
})();
