// The app shell shared by the three apps: checks that the page can work, then wires a RoomSession
// (core/room-session.js) to the page's views (join panel, your tile and mute buttons, remote and
// screen tiles, invite box, chat). Each app's entry module calls startApp(config).
import { roomApi } from './sdk.js';
import { RoomSession } from './core/room-session.js';
import { fetchIceServers } from './core/ice-servers.js';
import { wsUrl } from './core/urls.js';
import { fatal, insecureNotice } from './ui/page-checks.js';
import { Tiles, ScreenTiles } from './ui/tiles.js';
import { StreamSlots } from './ui/stream-slots.js';
import { JoinPanel } from './ui/join-panel.js';
import { LocalMedia } from './ui/local-media.js';
import { InviteBox } from './ui/invite-box.js';
import { ChatView } from './ui/chat-view.js';

const $ = (id) => document.getElementById(id);

/**
 * config: {
 *   maxPeople: number|null   client-side limit including me (two-way chats: 2), null = server decides
 *   duo: boolean             one large remote tile (#remoteMain) instead of a growing grid (#tiles)
 * }
 * Returns the RoomSession (add-ons such as ui/screen-share.js listen to it), or null when the page
 * cannot work (SDK bundle missing, insecure page, no WebRTC).
 */
export function startApp({ maxPeople = null, duo = false } = {}) {
  const api = roomApi();
  if (!api) {
    fatal('The Web SDK bundle (vendor/flashphoner-room-api-webrtc-only.js) is missing: run scripts/build-web.sh on the server.');
    return null;
  }
  if (!window.isSecureContext) {
    insecureNotice();
    return null;
  }
  try {
    api.sdk.init({});
  } catch (e) {
    fatal('This browser does not support WebRTC, which these apps need.');
    return null;
  }

  const remoteMain = duo ? $('remoteMain') : null;
  let panel = null;
  const tiles = Tiles($('tiles'), {
    fixed: remoteMain,
    fixedLabel: 'Waiting for someone to join',
    onChange: () => panel && panel.updateRoomInfo(),
  });
  const screens = ScreenTiles($('screens'));
  const session = new RoomSession({
    api,
    serverUrl: wsUrl(window.location),
    iceServers: () => fetchIceServers(window.fetch.bind(window)),
    maxPeople,
    slots: StreamSlots(tiles, screens),
  });

  const localTile = $('localTile');
  panel = JoinPanel(session, {
    form: $('joinForm'),
    login: $('login'),
    room: $('room'),
    record: $('record'),
    joinBtn: $('joinBtn'),
    status: $('status'),
    error: $('error'),
    roomInfo: $('roomInfo'),
  }, { localDisplay: localTile.querySelector('.display'), remoteCount: tiles.count, waitingTile: remoteMain });
  LocalMedia(session, { tile: localTile, muteAudio: $('muteAudioBtn'), muteVideo: $('muteVideoBtn') });

  const invite = InviteBox({ input: $('inviteLink'), copyBtn: $('copyInviteBtn'), hint: $('inviteHint') });
  const chat = ChatView(session.chat,
    { log: $('chatLog'), form: $('chatForm'), input: $('chatInput'), button: $('chatSendBtn') },
    (text) => session.sendChat(text));

  session.on('state', (state) => chat.enable(state === 'joined'))
    .on('participant-joined', (login) => tiles.ensure(login))
    .on('participant-left', (login) => tiles.remove(login))
    .on('joined', (roomName) => invite.set(roomName))
    .on('left', () => {
      tiles.clear();
      screens.clear();
      invite.clear();
    });

  window.addEventListener('pagehide', () => session.pageHidden());
  return session;
}
