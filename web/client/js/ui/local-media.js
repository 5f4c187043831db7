// Your own tile and the mute buttons: the tile shows your name and camera while in a room, the
// buttons follow the camera stream (enabled only while it is published).
import { setLabel, setVideo } from './tiles.js';

/** session: RoomSession; ui: {tile, muteAudio, muteVideo}. */
export function LocalMedia(session, { tile, muteAudio, muteVideo }) {
  muteAudio.addEventListener('click', () => session.toggleAudio());
  muteVideo.addEventListener('click', () => session.toggleVideo());

  function render({ live, audioMuted, videoMuted }) {
    muteAudio.disabled = !live;
    muteVideo.disabled = !live;
    muteAudio.textContent = audioMuted ? 'Unmute audio' : 'Mute audio';
    muteAudio.setAttribute('aria-pressed', String(audioMuted));
    muteVideo.textContent = videoMuted ? 'Unmute video' : 'Mute video';
    muteVideo.setAttribute('aria-pressed', String(videoMuted));
    tile.classList.toggle('video-muted', videoMuted);
  }

  session.on('local', render)
    .on('state', (state) => {
      if (state === 'connecting') setLabel(tile, session.login + ' (you)');
      if (state !== 'joined') {
        muteAudio.disabled = true;
        muteVideo.disabled = true;
      }
    })
    .on('local-media', (on) => {
      if (on) {
        tile.classList.add('has-video');
      } else {
        setVideo(tile, false);
        setLabel(tile, 'You');
      }
    });
  render(session.localState());
}
