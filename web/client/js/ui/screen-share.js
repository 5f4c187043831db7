// Screen sharing: publish the screen as a second room stream named <room>-<login>-xxxx-screenShare
// (constraints {video:{type:"screen", ...}, audio:false}), like the SDK's video-chat-and-screen-sharing demo.

/** session: RoomSession; btn: the Share button; previewTile: the local preview. */
export function ScreenShare(session, btn, previewTile) {
  const STREAM_STATUS = session.STREAM;
  const display = previewTile.querySelector('.display');
  let stream = null;

  // Phones and some browsers cannot capture the screen at all.
  const supported = !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  if (!supported) {
    btn.textContent = 'Screen sharing not supported here';
    btn.disabled = true;
    return { start() {}, stop() {} };
  }

  function render() {
    const sharing = !!stream && stream.status() === STREAM_STATUS.PUBLISHING;
    btn.textContent = sharing ? 'Stop sharing' : 'Share screen';
    btn.setAttribute('aria-pressed', String(sharing));
    btn.disabled = session.state !== 'joined' || (!!stream && !sharing);
    previewTile.hidden = !stream;
    previewTile.classList.toggle('has-video', sharing);
  }

  function start() {
    const room = session.room;
    if (!room || stream) return;
    const s = room.publish({
      name: 'screenShare',
      display: display,
      // width/height/frameRate must be given: without them the SDK normalizes to 320x240 and,
      // in Chrome >= 134, its getDisplayMedia path reads constraints.video.frameRate.ideal.
      constraints: {
        video: { type: 'screen', withoutExtension: true, width: 1280, height: 720, frameRate: 15 },
        audio: false,
      },
      cacheLocalResources: false,
      receiveVideo: false,
      receiveAudio: false,
    });
    stream = s;
    render();
    s.on(STREAM_STATUS.PUBLISHING, () => {
      // The browser's own "Stop sharing" control ends the track: unpublish then too.
      const video = document.getElementById(s.id());
      const track = video && video.srcObject && video.srcObject.getVideoTracks()[0];
      if (track) track.addEventListener('ended', () => stop());
      render();
    }).on(STREAM_STATUS.UNPUBLISHED, () => done(s))
      .on(STREAM_STATUS.FAILED, () => {
        if (stream === s) session.setError('Screen sharing failed' + (s.getInfo() ? ': ' + s.getInfo() : '.'));
        done(s);
      });
  }

  function stop() {
    if (stream && stream.status() === STREAM_STATUS.PUBLISHING) {
      btn.disabled = true;
      stream.stop();
    }
  }

  function done(s) {
    if (stream !== s) return;
    stream = null;
    display.replaceChildren();
    render();
  }

  btn.addEventListener('click', () => {
    if (stream) stop();
    else start();
  });
  session.on('joined', render).on('left', () => {
    stream = null;
    display.replaceChildren();
    render();
  });
  render();
  return { start, stop };
}
