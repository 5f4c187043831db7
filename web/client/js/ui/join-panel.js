// The join panel: name + room form (Join / Leave), the status label, the room line ("Room “x” ·
// 3 people") and the error line; marks <body data-state> for styles and tests.
import { randomRoomName, roomFromSearch } from '../core/invite.js';

const LOGIN_KEY = 'huddle.login';

function remembered() {
  try {
    return localStorage.getItem(LOGIN_KEY) || '';
  } catch (_) {
    return ''; // storage may be disabled
  }
}

function remember(login) {
  try {
    localStorage.setItem(LOGIN_KEY, login);
  } catch (_) { /* storage may be disabled */ }
}

/**
 * session: RoomSession; ui: {form, login, room, record?, joinBtn, status, error, roomInfo};
 * localDisplay: where the camera is shown; remoteCount(): remote tiles shown;
 * waitingTile: the two-way chats' remote tile, whose placeholder follows the state (or null).
 * Returns {updateRoomInfo()}.
 */
export function JoinPanel(session, ui, { localDisplay, remoteCount, waitingTile = null }) {
  ui.room.value = roomFromSearch(window.location.search) || randomRoomName();
  ui.login.value = ui.login.value || remembered();

  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (session.state === 'idle') join();
    else if (session.state === 'joined') session.leave();
  });

  function join() {
    const started = session.join({
      login: ui.login.value,
      room: ui.room.value,
      record: ui.record ? ui.record.checked : undefined,
      localDisplay,
    });
    if (started.ok) remember(session.login);
    else if (started.field) ui[started.field].focus();
  }

  function setStatus(text) {
    ui.status.textContent = text;
    ui.status.className = 'status ' + text;
  }

  function showState(state) {
    const idle = state === 'idle';
    ui.login.disabled = !idle;
    ui.room.disabled = !idle;
    if (ui.record) ui.record.disabled = !idle;
    ui.joinBtn.textContent = state === 'joined' || state === 'leaving' ? 'Leave' : 'Join';
    ui.joinBtn.disabled = state === 'connecting' || state === 'leaving';
    document.body.dataset.state = state;
    if (waitingTile) {
      waitingTile.querySelector('.placeholder').textContent = state === 'joined'
        ? 'Nobody else is here yet. Send them the invite link.'
        : idle ? 'Type your name and press Join to start the call.' : 'Connecting…';
    }
    updateRoomInfo();
  }

  function updateRoomInfo() {
    if (session.state !== 'joined') {
      ui.roomInfo.textContent = 'Not in a room';
      return;
    }
    const n = remoteCount() + 1;
    ui.roomInfo.textContent = 'Room “' + session.roomName + '” · ' + n + (n === 1 ? ' person' : ' people') +
      (session.recordRequested ? ' · recording requested' : '');
  }

  session.on('state', showState)
    .on('status', setStatus)
    .on('error', (text) => {
      ui.error.textContent = text;
    })
    .on('joined', updateRoomInfo);
  setStatus(session.status);
  showState(session.state);
  return { updateRoomInfo };
}
