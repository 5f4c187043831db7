//! Recording: publishers' frames go over a channel to one recorder thread, which owns the
//! blocking file I/O (huddle-record's Matroska `StreamRecorder`). The media thread never
//! touches the disk; frames are shared (`Arc<[u8]>`), not copied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

/// Sends one publisher's frames to the recorder thread.
struct ChannelSink {
    id: u64,
    tx: Sender<RecMsg>,
    closed: bool,
}

impl FrameSink for ChannelSink {
    fn frame(&mut self, frame: &Frame) {
        let _ = self.tx.send(RecMsg::Frame {
            id: self.id,
            video: frame.kind == MediaKind::Video,
            // The recorder works with wrapping 32-bit RTP time deltas.
            rtp_ts: frame.time.numer() as u32,
            arrival: frame.network_time,
            keyframe: frame.keyframe,
            data: frame.data.clone(),
        });
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
pub(crate) fn spawn(
    records_dir: PathBuf,
    shard: usize,
    events: UnboundedSender<MediaEvent>,
) -> std::io::Result<(RecorderFactory, RecorderQueue, JoinHandle<()>)> {
    let (tx, rx) = channel::<RecMsg>();
    let queue = RecorderQueue(tx.clone());
    let thread = std::thread::Builder::new()
        .name(format!("huddle-record-{shard}"))
        .spawn(move || run(rx, events))?;
    let mut next_id = 0u64;
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
            next_id += 1;
            let id = next_id;
            let open = RecMsg::Open {
                id,
                peer,
                path,
                start_unix_ms: req.started_unix_ms,
                epoch: Instant::now(),
                video,
                audio,
            };
            tx.send(open)
                .map_err(|_| "the recorder thread has stopped".to_string())?;
            Ok(Box::new(ChannelSink {
                id,
                tx: tx.clone(),
                closed: false,
            }) as Box<dyn FrameSink>)
        },
    );
    Ok((factory, queue, thread))
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

fn run(rx: Receiver<RecMsg>, events: UnboundedSender<MediaEvent>) {
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
                let Some(o) = open.get_mut(&id) else {
                    continue;
                };
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
