// App shell shared by the three apps: join form, status label, session + room lifecycle with the
// official Flashphoner Room API (global RoomApi), local camera publish, mute toggles, and routing of
// the other participants' streams into tiles. App pages call Huddle.startApp({...}).
(function () {
  'use strict';
  const Huddle = (window.Huddle = window.Huddle || {});

  const $ = (id) => document.getElementById(id);

  /** Same host and port as the page: ws:// for http pages, wss:// for https pages. */
  function wsUrl(loc) {
    loc = loc || window.location;
    return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host;
  }

  /** Room stream names are <room>-<login>-<4 hex>[-<name>]; screen shares end in -screenShare. */
  function isScreenStream(name) {
    return /-screenShare$/.test(name);
  }

  /** Browsers give camera access only to https pages (and http://localhost): say where to go. */
  function insecureNotice(err) {
    const loc = window.location;
    const httpsUrl = 'https://' + loc.hostname + (loc.port === '8080' ? ':8443' : '') + loc.pathname + loc.search;
    err.textContent = 'This browser allows the camera only on secure pages. Open ';
    const a = document.createElement('a');
    a.href = httpsUrl;
    a.textContent = httpsUrl;
    err.append(a, ' instead (accept the certificate warning if the server uses its own certificate).');
  }

  function fatal(msg) {
    const err = $('error');
    if (err) err.textContent = msg;
    const btn = $('joinBtn');
    if (btn) btn.disabled = true;
  }

  /**
   * config: {
   *   maxPeople: number|null   client-side limit including me (two-way chats: 2), null = server decides
   *   duo: boolean             one large remote tile (#remoteMain) instead of a growing grid (#tiles)
   * }
   * Returns the app object (state, room, hooks onJoined/onLeft for add-ons such as screen-share.js),
   * or null when the page cannot work (SDK bundle missing, insecure page, no WebRTC).
   */
  function startApp(config) {
    config = config || {};
    if (typeof window.RoomApi === 'undefined') {
      fatal('The Web SDK bundle (vendor/flashphoner-room-api-webrtc-only.js) is missing: run scripts/build-web.sh on the server.');
      return null;
    }
    if (!window.isSecureContext) {
      fatal('');
      insecureNotice($('error'));
      return null;
    }
    const Flashphoner = RoomApi.sdk;
    const SESSION_STATUS = Flashphoner.constants.SESSION_STATUS;
    const STREAM_STATUS = Flashphoner.constants.STREAM_STATUS;
    const ROOM_EVENT = RoomApi.events;
    try {
      Flashphoner.init({});
    } catch (e) {
      fatal('This browser does not support WebRTC, which these apps need.');
      return null;
    }

    const ui = {
      form: $('joinForm'),
      login: $('login'),
      room: $('room'),
      record: $('record'),
      joinBtn: $('joinBtn'),
      status: $('status'),
      error: $('error'),
      roomInfo: $('roomInfo'),
      localTile: $('localTile'),
      muteAudio: $('muteAudioBtn'),
      muteVideo: $('muteVideoBtn'),
    };
    const localDisplay = ui.localTile.querySelector('.display');

    const tiles = Huddle.tiles.Tiles($('tiles'), {
      fixed: config.duo ? $('remoteMain') : null,
      fixedLabel: 'Waiting for someone to join',
      onChange: updateRoomInfo,
    });
    const screens = Huddle.tiles.ScreenTiles($('screens'));
    const invite = Huddle.invite.InviteBox($('inviteLink'), $('copyInviteBtn'), $('inviteHint'));
    const chat = Huddle.Chat($('chatLog'), $('chatForm'), $('chatInput'), $('chatSendBtn'), sendChat);

    const app = {
      state: 'idle', // idle | connecting | joined | leaving
      connection: null,
      room: null,
      localStream: null,
      playing: new Map(), // remote stream name -> { stream: SDK stream, login }
      config: config,
      ui: ui,
      chat: chat,
      tiles: tiles,
      screens: screens,
      onJoined: [], // callbacks(room)
      onLeft: [], // callbacks()
    };
    Huddle.app = app;

    // ---- form -------------------------------------------------------------------------------
    ui.room.value = Huddle.invite.roomFromUrl() || Huddle.invite.randomRoom();
    try {
      ui.login.value = ui.login.value || localStorage.getItem('huddle.login') || '';
    } catch (_) { /* storage may be disabled */ }

    ui.form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (app.state === 'idle') join();
      else if (app.state === 'joined') leave();
    });

    ui.muteAudio.addEventListener('click', () => {
      const s = app.localStream;
      if (!s) return;
      if (s.isAudioMuted()) s.unmuteAudio();
      else s.muteAudio();
      syncMuteButtons();
    });
    ui.muteVideo.addEventListener('click', () => {
      const s = app.localStream;
      if (!s) return;
      if (s.isVideoMuted()) s.unmuteVideo();
      else s.muteVideo();
      syncMuteButtons();
    });

    window.addEventListener('pagehide', () => {
      // Leave explicitly so the others see it at once (a dropped socket waits for the grace period).
      if (app.room && app.state === 'joined') {
        try {
          app.room.leave();
        } catch (_) { /* page is going away */ }
      }
    });

    // ---- UI state -----------------------------------------------------------------------------
    function setStatus(text) {
      ui.status.textContent = text;
      ui.status.className = 'status ' + text;
    }

    function showError(text) {
      ui.error.textContent = text || '';
    }

    function setState(state) {
      app.state = state;
      const idle = state === 'idle';
      ui.login.disabled = !idle;
      ui.room.disabled = !idle;
      if (ui.record) ui.record.disabled = !idle;
      ui.joinBtn.textContent = state === 'joined' || state === 'leaving' ? 'Leave' : 'Join';
      ui.joinBtn.disabled = state === 'connecting' || state === 'leaving';
      chat.enable(state === 'joined');
      if (state !== 'joined') {
        ui.muteAudio.disabled = true;
        ui.muteVideo.disabled = true;
      }
      document.body.dataset.state = state;
      if (config.duo) {
        $('remoteMain').querySelector('.placeholder').textContent = state === 'joined'
          ? 'Nobody else is here yet. Send them the invite link.'
          : state === 'idle' ? 'Type your name and press Join to start the call.' : 'Connecting…';
      }
      updateRoomInfo();
    }

    function updateRoomInfo() {
      if (!ui.roomInfo) return;
      if (app.state !== 'joined' || !app.room) {
        ui.roomInfo.textContent = 'Not in a room';
        return;
      }
      const n = tiles.count() + 1;
      ui.roomInfo.textContent = 'Room “' + app.room.name() + '” · ' + n + (n === 1 ? ' person' : ' people') +
        (app.recordRequested ? ' · recording requested' : '');
    }

    function syncMuteButtons() {
      const s = app.localStream;
      const live = !!s && s.status() === STREAM_STATUS.PUBLISHING;
      ui.muteAudio.disabled = !live;
      ui.muteVideo.disabled = !live;
      const aMuted = live && s.isAudioMuted();
      const vMuted = live && s.isVideoMuted();
      ui.muteAudio.textContent = aMuted ? 'Unmute audio' : 'Mute audio';
      ui.muteAudio.setAttribute('aria-pressed', String(aMuted));
      ui.muteVideo.textContent = vMuted ? 'Unmute video' : 'Mute video';
      ui.muteVideo.setAttribute('aria-pressed', String(vMuted));
      ui.localTile.classList.toggle('video-muted', vMuted);
    }

    // ---- join / leave -------------------------------------------------------------------------
    function join() {
      const login = ui.login.value.trim();
      const roomName = ui.room.value.trim();
      if (!login) {
        showError('Please enter your name.');
        ui.login.focus();
        return;
      }
      if (!roomName) {
        showError('Please enter a room name.');
        ui.room.focus();
        return;
      }
      try {
        localStorage.setItem('huddle.login', login);
      } catch (_) { /* ignore */ }
      showError('');
      chat.clear();
      setState('connecting');
      setStatus('CONNECTING');
      Huddle.tiles.setLabel(ui.localTile, login + ' (you)');
      // Ask for camera and microphone first, so a refusal is reported before anything else.
      let access;
      try {
        access = Flashphoner.getMediaAccess({ audio: true, video: true }, localDisplay);
      } catch (e) {
        access = Promise.reject(e);
      }
      access.then(() => {
        ui.localTile.classList.add('has-video');
        return fetchIceServers().then((iceServers) => connect(login, roomName, iceServers));
      }).catch((e) => {
        console.error('media access failed', e);
        showError('Camera and microphone are not available (' + (e && (e.name || e.message) || e) +
          '). Allow access in the browser and try again.');
        setStatus('DISCONNECTED');
        cleanup();
      });
    }

    /** The server's STUN/TURN list (TURN credentials are fresh per request); none on error. */
    function fetchIceServers() {
      return fetch('/api/ice-servers', { cache: 'no-store' })
        .then((r) => (r.ok ? r.json() : {}))
        .then((j) => (Array.isArray(j.iceServers) ? j.iceServers : []))
        .catch(() => []);
    }

    function connect(login, roomName, iceServers) {
      // mediaOptions is the SDK's RTCPeerConnection configuration for every stream.
      const connection = RoomApi.connect({
        urlServer: wsUrl(),
        username: login,
        mediaOptions: { iceServers: iceServers || [] },
      });
      app.connection = connection;
      connection.on(SESSION_STATUS.ESTABLISHED, () => {
        if (app.connection !== connection) return;
        setStatus(SESSION_STATUS.ESTABLISHED);
        joinRoom(connection, roomName);
      }).on(SESSION_STATUS.DISCONNECTED, () => {
        if (app.connection !== connection) return;
        setStatus(SESSION_STATUS.DISCONNECTED);
        if (app.state === 'joined') showError('The connection to the server was closed.');
        cleanup();
      }).on(SESSION_STATUS.FAILED, () => {
        if (app.connection !== connection) return;
        setStatus(SESSION_STATUS.FAILED);
        if (app.state === 'joined') showError('The connection to the server was lost.');
        else if (!ui.error.textContent) showError('Could not connect to the server at ' + wsUrl() + '.');
        cleanup();
      });
    }

    function joinRoom(connection, roomName) {
      const opts = { name: roomName };
      if (ui.record) opts.record = ui.record.checked;
      app.recordRequested = !!opts.record;
      const room = connection.join(opts);
      app.room = room;
      room.on(ROOM_EVENT.STATE, (r) => {
        const others = r.getParticipants();
        if (config.maxPeople && others.length + 1 > config.maxPeople) {
          showError('Room “' + r.name() + '” is full: this app is for ' + config.maxPeople +
            ' people and ' + others.length + ' are already in it. Try another room.');
          leave();
          return;
        }
        setState('joined');
        invite.set(r.name());
        chat.note(others.length ? 'In the room: ' + others.map((p) => p.name()).join(', ') : 'You are the first one here.');
        for (const p of others) {
          tiles.ensure(p.name());
          playAll(p);
        }
        publishCamera(r);
        clearInterval(app.reconcileTimer);
        app.reconcileTimer = setInterval(reconcile, 1000);
        for (const cb of app.onJoined) cb(r);
        updateRoomInfo();
      }).on(ROOM_EVENT.JOINED, (p) => {
        tiles.ensure(p.name());
        chat.note(p.name() + ' joined');
        playAll(p);
      }).on(ROOM_EVENT.LEFT, (p) => {
        const login = p ? p.name() : '';
        stopPlayingFrom(login);
        tiles.remove(login);
        chat.note(login + ' left');
      }).on(ROOM_EVENT.PUBLISHED, (p) => {
        playAll(p);
      }).on(ROOM_EVENT.FAILED, (r, info) => {
        // The server refused the join (e.g. "Room is full"): show why and drop the session.
        const why = info || 'unknown reason';
        showError('Could not join room “' + roomName + '”: ' + why +
          (/full/i.test(why) ? '. Try again later or pick another room.' : ''));
        app.room = null;
        connection.disconnect();
      }).on(ROOM_EVENT.MESSAGE, (m) => {
        chat.add(m.from ? m.from.name() : '(unknown)', String(m.text));
      });
    }

    function leave() {
      const room = app.room;
      if (!room) {
        cleanup();
        return;
      }
      setState('leaving');
      const done = () => {
        const c = app.connection;
        cleanup();
        setStatus(SESSION_STATUS.DISCONNECTED);
        if (c) c.disconnect();
      };
      room.leave().then(done, done);
    }

    /** Back to the idle form; releases the camera. */
    function cleanup() {
      // The SDK itself stops this room's streams on leave() and fails them all on disconnect.
      clearInterval(app.reconcileTimer);
      app.reconcileTimer = null;
      app.connection = null;
      app.room = null;
      app.localStream = null;
      app.playing.clear();
      tiles.clear();
      screens.clear();
      invite.clear();
      for (const cb of app.onLeft) cb();
      try {
        Flashphoner.releaseLocalMedia(localDisplay);
      } catch (_) { /* nothing to release */ }
      Huddle.tiles.setVideo(ui.localTile, false);
      Huddle.tiles.setLabel(ui.localTile, 'You');
      setState('idle');
      syncMuteButtons();
    }

    // ---- media ----------------------------------------------------------------------------------
    function publishCamera(room) {
      const stream = room.publish({
        display: localDisplay,
        constraints: { audio: true, video: true },
        record: false,
        receiveVideo: false,
        receiveAudio: false,
      });
      app.localStream = stream;
      stream.on(STREAM_STATUS.PUBLISHING, () => {
        ui.localTile.classList.add('has-video');
        syncMuteButtons();
      }).on(STREAM_STATUS.UNPUBLISHED, () => {
        syncMuteButtons();
      }).on(STREAM_STATUS.FAILED, (s) => {
        showError('Your camera could not be published' + (s.getInfo() ? ': ' + s.getInfo() : '.'));
        syncMuteButtons();
      });
    }

    function playAll(participant) {
      if (!participant || !app.room) return;
      for (const s of participant.getStreams()) play(participant.name(), s);
    }

    function play(login, roomStream) {
      const name = roomStream.streamName();
      if (app.playing.has(name)) return;
      const screen = isScreenStream(name);
      const tile = screen ? screens.add(name, login) : tiles.ensure(login);
      if (!tile) return; // two-way chat: ignore a third person's streams
      const display = tile.querySelector('.display');
      if (!screen) Huddle.tiles.setVideo(tile, false);
      const stream = roomStream.play(display, {
        unmutePlayOnStart: true,
        constraints: { audio: { deviceId: 'default' } },
      });
      const entry = { stream, login };
      const gone = () => {
        if (app.playing.get(name) !== entry) return;
        app.playing.delete(name);
        if (screen) screens.remove(name);
        else if (tile.dataset.stream === name) Huddle.tiles.setVideo(tile, false);
      };
      entry.gone = gone;
      app.playing.set(name, entry);
      tile.dataset.stream = name;
      stream.on(STREAM_STATUS.PLAYING, () => {
        tile.classList.add('has-video');
      }).on(STREAM_STATUS.STOPPED, gone).on(STREAM_STATUS.FAILED, gone)
        .on(Flashphoner.constants.STREAM_EVENT, (e) => {
          // The browser blocked sound until the person interacts with the page: offer a button.
          // (SDK 2.0.276 fires this "UNMUTE_REQUIRED" event with type undefined: the constant is
          // missing from its STREAM_EVENT_TYPE, so check the element's audio state instead.)
          if (e && (!e.type || /unmute/i.test(e.type)) && stream.isRemoteAudioMuted()) offerSound(tile, stream, login);
        });
    }

    /**
     * The room's UNPUBLISHED event only removes the stream from its participant inside the SDK (no
     * callback): drop every played stream the room no longer lists, in case its STOPPED is late.
     */
    function reconcile() {
      if (!app.room) return;
      const live = new Set();
      for (const p of app.room.getParticipants()) for (const s of p.getStreams()) live.add(s.streamName());
      for (const [name, entry] of Array.from(app.playing.entries())) {
        if (live.has(name)) continue;
        const st = entry.stream.status();
        if (st !== STREAM_STATUS.STOPPED && st !== STREAM_STATUS.FAILED) {
          try {
            entry.stream.stop();
          } catch (_) { /* already gone */ }
        }
        entry.gone();
      }
    }

    function offerSound(tile, stream, login) {
      if (tile.querySelector('.unmute')) return;
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'unmute';
      btn.textContent = 'Turn on sound from ' + login;
      btn.addEventListener('click', () => {
        try {
          stream.unmuteRemoteAudio();
        } catch (_) { /* stream already gone */ }
        btn.remove();
      });
      tile.appendChild(btn);
    }

    function stopPlayingFrom(login) {
      for (const [name, { stream: s, login: owner }] of Array.from(app.playing.entries())) {
        if (owner === login) {
          app.playing.delete(name);
          if (isScreenStream(name)) screens.remove(name);
          const st = s.status();
          if (st !== STREAM_STATUS.STOPPED && st !== STREAM_STATUS.FAILED) {
            try {
              s.stop();
            } catch (_) { /* already stopped */ }
          }
        }
      }
    }

    // ---- chat -------------------------------------------------------------------------------------
    function sendChat(text) {
      if (!app.room || !app.connection) return 0;
      const others = app.room.getParticipants();
      chat.add(app.connection.username(), text, true);
      for (const p of others) {
        p.sendMessage(text, () => chat.note('Could not deliver your message to ' + p.name() + '.'));
      }
      return others.length;
    }

    setStatus(SESSION_STATUS.DISCONNECTED);
    setState('idle');
    syncMuteButtons();
    app.wsUrl = wsUrl;
    app.setStatus = setStatus;
    app.showError = showError;
    app.STREAM_STATUS = STREAM_STATUS;
    return app;
  }

  Huddle.wsUrl = wsUrl;
  Huddle.isScreenStream = isScreenStream;
  Huddle.startApp = startApp;
})();
