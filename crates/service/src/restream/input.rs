//! One restream input: a tap on a publisher's source (runs on the media thread, never
//! blocks) and a writer thread that turns its frames into a live Matroska stream (the
//! recordings' writer, `StreamRecorder::live`) on a Unix socket that ffmpeg reads.
//!
//! Why a socket: ffmpeg opens `unix:<path>` as a client, the socket lives in a private
//! folder (nobody else can connect), a write to an ffmpeg that stopped reading times out
//! instead of hanging, and an ffmpeg that died gives an error at once.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use huddle_record::{Codec, StreamRecorder};
use huddle_sfu::{Frame, FrameSink};
use tracing::debug;

/// Frames queued between the tap and the writer (about 4 s of 30 fps video + 50/s audio).
const QUEUE_FRAMES: usize = 320;
/// Bytes queued between the tap and the writer.
const QUEUE_BYTES: usize = 8 << 20;
/// A write that ffmpeg does not take for this long fails the input (ffmpeg is stuck).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the tap, the writer and the session share about one input.
#[derive(Default)]
pub struct InputState {
    queued_bytes: AtomicUsize,
    /// The writer needs a keyframe (ffmpeg just connected): the tap tells the media core
    /// ([`FrameSink::wants_keyframe`]), which asks the publisher, again each keyframe-gate
    /// interval, until a keyframe is queued.
    wants_keyframe: AtomicBool,
    pub dropped_frames: AtomicU64,
    pub written_frames: AtomicU64,
    /// Why the writer stopped, if it failed.
    pub error: Mutex<Option<String>>,
}

/// The tap: hands frames to the writer without blocking. On overflow it drops and waits for
/// the next video keyframe (a half GOP would not decode), asking for one.
pub struct InputTap {
    tx: SyncSender<Frame>,
    state: Arc<InputState>,
    has_video: bool,
    waiting_for_key: bool,
}

impl FrameSink for InputTap {
    fn frame(&mut self, frame: &Frame) {
        let video = frame.kind.is_video();
        if self.waiting_for_key {
            if video && frame.keyframe {
                self.waiting_for_key = false;
            } else if video {
                self.state.dropped_frames.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let size = frame.data.len();
        if self.state.queued_bytes.load(Ordering::Relaxed) + size > QUEUE_BYTES {
            self.overflow();
            return;
        }
        match self.tx.try_send(frame.clone()) {
            Ok(()) => {
                self.state.queued_bytes.fetch_add(size, Ordering::Relaxed);
                if video && frame.keyframe {
                    // Queued behind the writer's wish: it answers it.
                    self.state.wants_keyframe.store(false, Ordering::SeqCst);
                }
            }
            Err(TrySendError::Full(_)) => self.overflow(),
            // The writer is gone; the session removes this tap.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn close(&mut self) {}

    /// The media core asks the publisher for a keyframe while this tap or its writer waits
    /// for one.
    fn wants_keyframe(&self) -> bool {
        self.waiting_for_key || self.state.wants_keyframe.load(Ordering::Relaxed)
    }
}

impl InputTap {
    fn overflow(&mut self) {
        self.state.dropped_frames.fetch_add(1, Ordering::Relaxed);
        if self.has_video {
            self.waiting_for_key = true;
        }
    }
}

/// One input of one ffmpeg run: its socket, its writer thread, its state.
pub struct Input {
    pub source: String,
    pub socket: PathBuf,
    pub has_video: bool,
    pub has_audio: bool,
    pub state: Arc<InputState>,
    tx: SyncSender<Frame>,
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
}

impl Input {
    /// Listens on `socket` and starts the writer thread.
    pub fn start(
        source: &str,
        socket: PathBuf,
        has_video: bool,
        has_audio: bool,
    ) -> io::Result<Input> {
        let listener = UnixListener::bind(&socket)?;
        listener.set_nonblocking(true)?;
        let (tx, rx) = sync_channel(QUEUE_FRAMES);
        let state = Arc::new(InputState::default());
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (state, stop, label) = (state.clone(), stop.clone(), socket.clone());
            thread::Builder::new()
                .name("huddle-restream-in".into())
                .spawn(move || {
                    let writer = Writer {
                        rx,
                        state: state.clone(),
                        stop,
                        has_video,
                        label,
                    };
                    if let Err(e) = writer.run(listener) {
                        debug!(error = %e, "restream input writer stopped");
                        *state.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    }
                })?
        };
        Ok(Input {
            source: source.to_string(),
            socket,
            has_video,
            has_audio,
            state,
            tx,
            stop,
            writer: Some(writer),
        })
    }

    /// A new tap feeding this input; it starts at the next video keyframe.
    pub fn tap(&self) -> InputTap {
        InputTap {
            tx: self.tx.clone(),
            state: self.state.clone(),
            has_video: self.has_video,
            waiting_for_key: self.has_video,
        }
    }

    /// Stops the writer (at most one write timeout when ffmpeg still runs: kill it first).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Writer {
    rx: Receiver<Frame>,
    state: Arc<InputState>,
    stop: Arc<AtomicBool>,
    has_video: bool,
    label: PathBuf,
}

const POLL: Duration = Duration::from_millis(20);
/// A source quiet for this long has its buffered frames pushed to ffmpeg.
const QUIET_FLUSH: Duration = Duration::from_secs(1);

impl Writer {
    fn next(&self, timeout: Duration) -> Result<Option<Frame>, String> {
        if self.stop.load(Ordering::SeqCst) {
            return Err("stopped".into());
        }
        match self.rx.recv_timeout(timeout) {
            Ok(frame) => {
                self.state
                    .queued_bytes
                    .fetch_sub(frame.data.len(), Ordering::Relaxed);
                Ok(Some(frame))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err("the source's tap was removed".into()),
        }
    }

    fn run(self, listener: UnixListener) -> Result<(), String> {
        // Until ffmpeg connects (it opens its inputs one after another), frames are stale: drop.
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    while self.next(Duration::ZERO)?.is_some() {}
                    thread::sleep(POLL);
                }
                Err(e) => return Err(format!("accepting ffmpeg: {e}")),
            }
        };
        drop(listener);
        stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
            .map_err(|e| format!("socket setup: {e}"))?;
        // Start at a fresh keyframe so that the picture starts now, in sync with the audio.
        // ffmpeg waits for this input's header before it opens the next one, so the wish
        // lasts until the keyframe is here: the media core asks again each gate interval (a
        // request or its keyframe can be lost) instead of leaving the whole mix waiting for
        // the stall watchdog.
        self.state
            .wants_keyframe
            .store(self.has_video, Ordering::SeqCst);
        let first = loop {
            let Some(frame) = self.next(POLL)? else {
                continue;
            };
            if !self.has_video || (frame.kind.is_video() && frame.keyframe) {
                break frame;
            }
        };
        self.state.wants_keyframe.store(false, Ordering::SeqCst);
        let mut recorder = self.recorder(stream, &first)?;
        self.write(&mut recorder, &first)?;
        let mut last = Instant::now();
        loop {
            match self.next(POLL * 10)? {
                Some(frame) => {
                    self.write(&mut recorder, &frame)?;
                    last = Instant::now();
                }
                // Quiet source: push out the buffered cluster so ffmpeg is not kept waiting.
                None if last.elapsed() >= QUIET_FLUSH => {
                    recorder.flush().map_err(|e| self.write_error(e))?;
                    last = Instant::now();
                }
                None => {}
            }
        }
    }

    fn recorder(&self, stream: UnixStream, first: &Frame) -> Result<StreamRecorder, String> {
        let video = self.has_video.then(|| video_codec(&first.data));
        let now_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let file = std::fs::File::from(OwnedFd::from(stream));
        // Audio is Opus: what browsers send and what RTMP ingest turns AAC into.
        StreamRecorder::live(
            file,
            &self.label,
            now_unix_ms,
            Instant::now(),
            video,
            Some(Codec::Opus),
        )
        .map_err(|e| format!("starting the stream: {e}"))
    }

    fn write(&self, recorder: &mut StreamRecorder, frame: &Frame) -> Result<(), String> {
        let rtp = frame.time.numer() as u32;
        let result = if frame.kind.is_video() {
            recorder.write_video(rtp, frame.network_time, frame.keyframe, &frame.data)
        } else {
            recorder.write_audio(rtp, frame.network_time, &frame.data)
        };
        result.map_err(|e| self.write_error(e))?;
        self.state.written_frames.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn write_error(&self, e: io::Error) -> String {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            format!("ffmpeg took no input for {WRITE_TIMEOUT:?}")
        } else {
            format!("writing to ffmpeg: {e}")
        }
    }
}

/// H.264 frames come as Annex-B (a start code first); anything else a browser sends is VP8.
fn video_codec(frame: &[u8]) -> Codec {
    if frame.starts_with(&[0, 0, 1]) || frame.starts_with(&[0, 0, 0, 1]) {
        Codec::H264
    } else {
        Codec::Vp8
    }
}

/// The socket path of input `index` in a run's folder.
pub fn socket_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("in{index}.sock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_sfu::Frame;
    use str0m::media::{Frequency, MediaKind, MediaTime};

    fn frame(kind: MediaKind, key: bool, len: usize) -> Frame {
        Frame {
            kind,
            time: MediaTime::new(0, Frequency::NINETY_KHZ),
            network_time: Instant::now(),
            keyframe: key,
            data: Arc::from(vec![0u8; len]),
        }
    }

    /// A tap on a queue of `capacity` frames, with its receiving end and shared state.
    fn tap(
        capacity: usize,
        has_video: bool,
        waiting_for_key: bool,
    ) -> (InputTap, Receiver<Frame>, Arc<InputState>) {
        let (tx, rx) = sync_channel(capacity);
        let state = Arc::new(InputState::default());
        let tap = InputTap {
            tx,
            state: state.clone(),
            has_video,
            waiting_for_key,
        };
        (tap, rx, state)
    }

    #[test]
    fn a_full_queue_drops_until_the_next_keyframe_and_asks_for_one() {
        let (mut tap, rx, state) = tap(2, true, true);
        // Nothing before the first keyframe; audio passes meanwhile.
        tap.frame(&frame(MediaKind::Video, false, 10));
        tap.frame(&frame(MediaKind::Audio, false, 10));
        tap.frame(&frame(MediaKind::Video, true, 10));
        tap.frame(&frame(MediaKind::Video, false, 10));
        assert_eq!(state.dropped_frames.load(Ordering::Relaxed), 2);
        assert!(tap.wants_keyframe(), "the overflow waits for a keyframe");
        let got: Vec<_> = rx.try_iter().map(|f| (f.kind, f.keyframe)).collect();
        assert_eq!(
            got,
            vec![(MediaKind::Audio, false), (MediaKind::Video, true)]
        );
        // After the overflow: P-frames are dropped, the next keyframe goes through.
        tap.frame(&frame(MediaKind::Video, false, 10));
        tap.frame(&frame(MediaKind::Video, true, 10));
        let got: Vec<_> = rx.try_iter().map(|f| f.keyframe).collect();
        assert_eq!(got, vec![true]);
        assert!(!tap.wants_keyframe());
    }

    #[test]
    fn the_writers_wish_lasts_until_a_keyframe_is_queued() {
        let (mut tap, rx, state) = tap(8, true, false);
        assert!(!tap.wants_keyframe());
        state.wants_keyframe.store(true, Ordering::SeqCst); // ffmpeg connected
        tap.frame(&frame(MediaKind::Video, false, 10));
        tap.frame(&frame(MediaKind::Audio, false, 10));
        assert!(
            tap.wants_keyframe(),
            "a delta frame or audio does not answer it"
        );
        tap.frame(&frame(MediaKind::Video, true, 10));
        assert!(!tap.wants_keyframe());
        assert_eq!(rx.try_iter().count(), 3);
    }

    #[test]
    fn the_byte_budget_bounds_the_queue() {
        let (mut tap, rx, state) = tap(1000, false, false);
        for _ in 0..20 {
            tap.frame(&frame(MediaKind::Audio, false, 1 << 20));
        }
        assert_eq!(rx.try_iter().count(), QUEUE_BYTES >> 20);
        assert_eq!(
            state.dropped_frames.load(Ordering::Relaxed),
            20 - (QUEUE_BYTES >> 20) as u64
        );
    }

    #[test]
    fn codec_from_the_bitstream() {
        assert_eq!(video_codec(&[0, 0, 0, 1, 0x67]), Codec::H264);
        assert_eq!(video_codec(&[0, 0, 1, 0x65]), Codec::H264);
        assert_eq!(
            video_codec(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]),
            Codec::Vp8
        );
    }
}
