//! Recording: publishers' frames go over a channel to one recorder thread, which owns the
//! blocking file I/O (huddle-record's Matroska `StreamRecorder`). The media thread never
//! touches the disk; frames are shared (`Arc<[u8]>`), not copied.
//!
//! The frames waiting for the recorder thread are bounded in bytes ([`QueueBound`], per
//! shard): a disk slower than the recorded bit rate (or stalled) would otherwise grow memory
//! without limit. Over the bound a frame is dropped, never waited for (the media thread must
//! not block); video then skips to the next keyframe (a delta frame without its references
//! does not decode) and the sink asks the publisher for one once there is room again. Each
//! dropped frame is counted (`MediaStats::recording_dropped_frames`), and the first drop of a
//! recording is reported as [`MediaEvent::RecordingFailed`] (the file has a gap): the room
//! marks it and the operator sees it in `/admin/rooms`, while the recording goes on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use huddle_record::{Codec as RecCodec, StreamRecorder};
use huddle_room::{MediaEvent, PeerId, RecordRequest};
use str0m::format::Codec;
use str0m::media::MediaKind;
use tokio::sync::mpsc::UnboundedSender;

use crate::codecs::SourceCodecs;
use crate::forward::Frame;
use crate::sfu::{FrameSink, RecorderFactory};
use crate::stats::Counters;

/// Default of [`crate::SfuConfig::recording_queue_bytes`]: 64 MiB per shard, ~13 s of twenty
/// 2 Mbit/s recorded publishers (a disk hiccup of that long loses nothing).
pub const DEFAULT_RECORDING_QUEUE_BYTES: usize = 64 << 20;

/// Bytes of frames queued for the recorder thread, shared by the media thread (adds) and the
/// recorder thread (subtracts once a frame is written or thrown away).
pub(crate) struct QueueBound {
    queued: AtomicUsize,
    limit: usize,
}

impl QueueBound {
    fn new(limit: usize) -> QueueBound {
        QueueBound {
            queued: AtomicUsize::new(0),
            limit,
        }
    }

    /// Takes `n` bytes of the bound; false (nothing taken) when they do not fit.
    fn reserve(&self, n: usize) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q + n <= self.limit).then_some(q + n)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
    }

    /// At most half full: a keyframe asked for now will most likely fit when it comes.
    fn has_room(&self) -> bool {
        self.queued.load(Ordering::Acquire) <= self.limit / 2
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// Called on the recorder thread before each frame is written: (video, keyframe, RTP time).
/// Tests use it to stall the writer as a blocked disk would; production passes a no-op.
type BeforeWrite = Box<dyn FnMut(bool, bool, u32) + Send>;

enum RecMsg {
    Open {
        id: u64,
        peer: PeerId,
        path: PathBuf,
        start_unix_ms: u64,
        epoch: Instant,
        video: Option<RecCodec>,
        audio: Option<RecCodec>,
    },
    Frame {
        id: u64,
        video: bool,
        rtp_ts: u32,
        arrival: Instant,
        keyframe: bool,
        data: Arc<[u8]>,
    },
    Close {
        id: u64,
    },
    /// Everything sent before is done: run the callback.
    Settle(Box<dyn FnOnce() + Send>),
}

/// Lets the media thread put a barrier in the recorder's queue.
#[derive(Clone)]
pub(crate) struct RecorderQueue(Sender<RecMsg>);

impl RecorderQueue {
    /// `done` runs once every recording closed before this call is finished on disk.
    pub(crate) fn settle(&self, done: Box<dyn FnOnce() + Send>) {
        if let Err(std::sync::mpsc::SendError(RecMsg::Settle(done))) =
            self.0.send(RecMsg::Settle(done))
        {
            // The recorder thread is gone: nothing is pending.
            done();
        }
    }
}

/// A recording that got no frame for this long is flushed, so a crash loses at most this much.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The codec as huddle-record names it.
pub fn rec_codec(c: Codec) -> Option<RecCodec> {
    match c {
        Codec::H264 => Some(RecCodec::H264),
        Codec::Vp8 => Some(RecCodec::Vp8),
        Codec::Opus => Some(RecCodec::Opus),
        Codec::PCMU => Some(RecCodec::Pcmu),
        Codec::PCMA => Some(RecCodec::Pcma),
        _ => None,
    }
}

/// Sends one publisher's frames to the recorder thread, within the shard's [`QueueBound`].
struct ChannelSink {
    id: u64,
    peer: PeerId,
    tx: Sender<RecMsg>,
    bound: Arc<QueueBound>,
    counters: Arc<Counters>,
    events: UnboundedSender<MediaEvent>,
    /// Video frames were dropped: the next one recorded must be a keyframe.
    video_gap: bool,
    /// Frames of this recording dropped so far (the first one is reported).
    dropped: u64,
    closed: bool,
}

impl ChannelSink {
    fn drop_frame(&mut self, video: bool) {
        if video {
            self.video_gap = true;
        }
        self.dropped += 1;
        Counters::add(&self.counters.recording_dropped_frames, 1);
        if self.dropped == 1 {
            let reason = format!(
                "the recorder fell behind (more than {} bytes queued for the disk): frames \
                 dropped, the recording has a gap and goes on at the next keyframe",
                self.bound.limit
            );
            tracing::warn!("{}: {reason}", self.peer);
            // The receiver is gone only while the server stops.
            let _ = self.events.send(MediaEvent::RecordingFailed {
                peer: self.peer,
                reason,
            });
        }
    }
}

impl FrameSink for ChannelSink {
    fn frame(&mut self, frame: &Frame) {
        if self.closed {
            return;
        }
        let video = frame.kind == MediaKind::Video;
        if video && self.video_gap && !frame.keyframe {
            self.drop_frame(true);
            return;
        }
        let len = frame.data.len();
        if !self.bound.reserve(len) {
            self.drop_frame(video);
            return;
        }
        if video {
            self.video_gap = false;
        }
        let sent = self.tx.send(RecMsg::Frame {
            id: self.id,
            video,
            // The recorder works with wrapping 32-bit RTP time deltas.
            rtp_ts: frame.time.numer() as u32,
            arrival: frame.network_time,
            keyframe: frame.keyframe,
            data: frame.data.clone(),
        });
        if sent.is_err() {
            // The recorder thread is gone (the server stops): nothing will release it.
            self.bound.release(len);
        }
    }

    fn wants_keyframe(&self) -> bool {
        self.video_gap && !self.closed && self.bound.has_room()
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.tx.send(RecMsg::Close { id: self.id });
        }
    }
}

impl Drop for ChannelSink {
    fn drop(&mut self) {
        self.close();
    }
}

/// Starts the recorder thread. The returned factory opens one recording per publisher with
/// `record: Some(..)`; the thread ends (finishing every file) once the factory and all sinks
/// are dropped.
///
/// A recording that cannot be opened, written or finished is reported to `events` as
/// [`MediaEvent::RecordingFailed`] (the room marks the stream's recording failed).
///
/// At most `queue_bytes` of frames wait for the disk (see [`QueueBound`]); dropped frames are
/// counted in `counters`.
pub(crate) fn spawn(
    records_dir: PathBuf,
    shard: usize,
    queue_bytes: usize,
    counters: Arc<Counters>,
    events: UnboundedSender<MediaEvent>,
) -> std::io::Result<(RecorderFactory, RecorderQueue, JoinHandle<()>)> {
    let (mut opener, queue, thread) =
        spawn_with(shard, queue_bytes, counters, events, Box::new(|_, _, _| {}))?;
    let factory: RecorderFactory = Box::new(
        move |peer: PeerId, req: &RecordRequest, codecs: &SourceCodecs| {
            let video = codecs.video.and_then(|p| rec_codec(p.spec().codec));
            let audio = codecs.audio.and_then(|p| rec_codec(p.spec().codec));
            if video.is_none() && audio.is_none() {
                return Err("no recordable codec".to_string());
            }
            let Some(path) = safe_join(&records_dir, &req.file_name) else {
                return Err(format!("unsafe file name {:?}", req.file_name));
            };
            let sink = opener.open(peer, path, req.started_unix_ms, video, audio)?;
            Ok(Box::new(sink) as Box<dyn FrameSink>)
        },
    );
    Ok((factory, queue, thread))
}

/// Opens recordings on the recorder thread (the factory's work once the request is checked).
struct Opener {
    tx: Sender<RecMsg>,
    bound: Arc<QueueBound>,
    counters: Arc<Counters>,
    events: UnboundedSender<MediaEvent>,
    next_id: u64,
}

impl Opener {
    fn open(
        &mut self,
        peer: PeerId,
        path: PathBuf,
        start_unix_ms: u64,
        video: Option<RecCodec>,
        audio: Option<RecCodec>,
    ) -> Result<ChannelSink, String> {
        self.next_id += 1;
        let id = self.next_id;
        let open = RecMsg::Open {
            id,
            peer,
            path,
            start_unix_ms,
            epoch: Instant::now(),
            video,
            audio,
        };
        self.tx
            .send(open)
            .map_err(|_| "the recorder thread has stopped".to_string())?;
        Ok(ChannelSink {
            id,
            peer,
            tx: self.tx.clone(),
            bound: self.bound.clone(),
            counters: self.counters.clone(),
            events: self.events.clone(),
            video_gap: false,
            dropped: 0,
            closed: false,
        })
    }
}

/// The recorder thread with a hook run on it before each frame is written.
fn spawn_with(
    shard: usize,
    queue_bytes: usize,
    counters: Arc<Counters>,
    events: UnboundedSender<MediaEvent>,
    before_write: BeforeWrite,
) -> std::io::Result<(Opener, RecorderQueue, JoinHandle<()>)> {
    let (tx, rx) = channel::<RecMsg>();
    let queue = RecorderQueue(tx.clone());
    let bound = Arc::new(QueueBound::new(queue_bytes));
    let thread_bound = bound.clone();
    let thread_events = events.clone();
    let thread = std::thread::Builder::new()
        .name(format!("huddle-record-{shard}"))
        .spawn(move || run(rx, thread_events, thread_bound, before_write))?;
    let opener = Opener {
        tx,
        bound,
        counters,
        events,
        next_id: 0,
    };
    Ok((opener, queue, thread))
}

/// `dir/name`, refusing absolute names and `..` (names are made safe upstream; belt and braces).
fn safe_join(dir: &Path, name: &str) -> Option<PathBuf> {
    let rel = Path::new(name);
    let ok = !name.is_empty()
        && rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    ok.then(|| dir.join(rel))
}

/// An open recording and the publisher it belongs to (for failure reports).
struct Open {
    peer: PeerId,
    rec: StreamRecorder,
}

fn run(
    rx: Receiver<RecMsg>,
    events: UnboundedSender<MediaEvent>,
    bound: Arc<QueueBound>,
    mut before_write: BeforeWrite,
) {
    let failed = |peer: PeerId, reason: String| {
        tracing::warn!("{peer}: {reason}");
        // The receiver is gone only while the server stops.
        let _ = events.send(MediaEvent::RecordingFailed { peer, reason });
    };
    let mut open: HashMap<u64, Open> = HashMap::new();
    let mut last_flush = Instant::now();
    loop {
        if last_flush.elapsed() >= FLUSH_EVERY {
            // A quiet (muted) stream keeps its last cluster in memory until flushed.
            let mut broken = Vec::new();
            for (id, o) in open.iter_mut() {
                if let Err(e) = o.rec.flush() {
                    failed(
                        o.peer,
                        format!("flushing {} failed: {e}", o.rec.path().display()),
                    );
                    broken.push(*id);
                }
            }
            for id in broken {
                open.remove(&id);
            }
            last_flush = Instant::now();
        }
        let msg = match rx.recv_timeout(FLUSH_EVERY) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            RecMsg::Open {
                id,
                peer,
                path,
                start_unix_ms,
                epoch,
                video,
                audio,
            } => match StreamRecorder::create_with_epoch(&path, start_unix_ms, epoch, video, audio)
            {
                Ok(rec) => {
                    open.insert(id, Open { peer, rec });
                }
                Err(e) => failed(peer, format!("cannot record to {}: {e}", path.display())),
            },
            RecMsg::Frame {
                id,
                video,
                rtp_ts,
                arrival,
                keyframe,
                data,
            } => {
                // Released whether the frame is written or not (its recording is gone).
                let _release = Release(&bound, data.len());
                let Some(o) = open.get_mut(&id) else {
                    continue;
                };
                before_write(video, keyframe, rtp_ts);
                let r = if video {
                    o.rec.write_video(rtp_ts, arrival, keyframe, &data)
                } else {
                    o.rec.write_audio(rtp_ts, arrival, &data)
                };
                if let Err(e) = r {
                    failed(
                        o.peer,
                        format!("recording {} failed: {e}", o.rec.path().display()),
                    );
                    open.remove(&id);
                }
            }
            RecMsg::Close { id } => {
                if let Some(o) = open.remove(&id) {
                    finish(o, &failed);
                }
            }
            RecMsg::Settle(done) => done(),
        }
    }
    for (_, o) in open.drain() {
        finish(o, &failed);
    }
}

/// Gives a frame's bytes back to the bound when dropped (after the write, or on `continue`).
struct Release<'a>(&'a QueueBound, usize);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

fn finish(o: Open, failed: &impl Fn(PeerId, String)) {
    let path = o.rec.path().to_path_buf();
    match o.rec.finish() {
        Ok(stats) => tracing::info!("recording {} done: {stats:?}", path.display()),
        Err(e) => failed(
            o.peer,
            format!("recording {} did not finish: {e}", path.display()),
        ),
    }
}

#[cfg(test)]
#[path = "record_stall_tests.rs"]
mod stall_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_is_confined() {
        let d = Path::new("/r");
        assert_eq!(safe_join(d, "a/b.mkv"), Some(PathBuf::from("/r/a/b.mkv")));
        assert_eq!(safe_join(d, "../x.mkv"), None);
        assert_eq!(safe_join(d, "/etc/x.mkv"), None);
        assert_eq!(safe_join(d, ""), None);
    }

    #[test]
    fn codecs_map() {
        assert_eq!(rec_codec(Codec::Vp8), Some(RecCodec::Vp8));
        assert_eq!(rec_codec(Codec::PCMA), Some(RecCodec::Pcma));
        assert_eq!(rec_codec(Codec::Vp9), None);
    }
}
