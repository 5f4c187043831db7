//! Mix job files are written on their own thread, in the order the room actor asked, so that
//! a slow or stuck disk never stalls signaling (the actor only queues an operation).
//!
//! The queue is unbounded on purpose, and that is safe: its producer is the room actor, which
//! queues one small operation (a room name, a file name, a few numbers) per recorded stream
//! that starts and one per recorded room that ends. Both are capped upstream: a recorded
//! stream is a publish that passed media admission (`max_pending_media`, the publish rate
//! limits), a room end follows its streams. A bounded queue would have to drop a job (a lost
//! mix) or block the actor (what this thread exists to avoid).

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use huddle_room::RecordedStream;
use tracing::{error, info};

use super::{PendingMix, JOBS_DIR};

/// What the job thread does, in order.
pub(super) enum JobOp {
    /// A stream of a recorded room started recording: add it to the room's open job.
    NoteStream {
        room: String,
        room_started_unix_ms: u64,
        stream: RecordedStream,
        /// Output file name of the room's mix (the job's name).
        output: String,
    },
    /// A recorded room ended: write its completed job, then `then(job file)` starts the mix
    /// (an empty path when the job could not be written: the mix runs anyway).
    Finalize {
        pending: PendingMix,
        then: Box<dyn FnOnce(PathBuf) + Send>,
    },
    /// Every operation queued before is done (for tests and orderly waits).
    Written(tokio::sync::oneshot::Sender<()>),
}

/// Sends operations to the job thread (or runs them in place if it could not start).
#[derive(Clone)]
pub(super) struct JobQueue {
    records_dir: PathBuf,
    tx: Option<mpsc::Sender<JobOp>>,
}

impl JobQueue {
    /// Starts the thread; it ends once every queue clone is dropped.
    pub(super) fn spawn(records_dir: PathBuf) -> JobQueue {
        let (tx, rx) = mpsc::channel::<JobOp>();
        let dir = records_dir.clone();
        let started = std::thread::Builder::new()
            .name("huddle-mix-jobs".into())
            .spawn(move || {
                for op in rx {
                    apply(&dir, op);
                }
            });
        match started {
            Ok(_) => JobQueue {
                records_dir,
                tx: Some(tx),
            },
            Err(e) => {
                error!(error = %e, "cannot start the mix job thread; job files are written in place");
                JobQueue {
                    records_dir,
                    tx: None,
                }
            }
        }
    }

    pub(super) fn submit(&self, op: JobOp) {
        let op = match &self.tx {
            Some(tx) => match tx.send(op) {
                Ok(()) => return,
                Err(mpsc::SendError(op)) => op,
            },
            None => op,
        };
        apply(&self.records_dir, op);
    }
}

fn apply(records_dir: &Path, op: JobOp) {
    match op {
        JobOp::NoteStream {
            room,
            room_started_unix_ms,
            stream,
            output,
        } => note_stream(records_dir, &room, room_started_unix_ms, &stream, output),
        JobOp::Finalize { pending, then } => {
            let job_file = match save(records_dir, &pending) {
                Ok(path) => path,
                Err(e) => {
                    error!(room = %pending.room, error = %e, "cannot write the mix job; mixing anyway");
                    PathBuf::new()
                }
            };
            then(job_file);
        }
        JobOp::Written(done) => {
            let _ = done.send(());
        }
    }
}

/// The job file of the mix `output`.
pub(super) fn job_path(records_dir: &Path, output: &str) -> PathBuf {
    records_dir.join(JOBS_DIR).join(format!("{output}.json"))
}

fn note_stream(
    records_dir: &Path,
    room: &str,
    room_started_unix_ms: u64,
    stream: &RecordedStream,
    output: String,
) {
    let path = job_path(records_dir, &output);
    let mut pending = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<PendingMix>(&bytes).ok())
        .filter(|p| p.room == room && p.started_unix_ms == room_started_unix_ms)
        .unwrap_or(PendingMix {
            room: room.to_string(),
            started_unix_ms: room_started_unix_ms,
            ended_unix_ms: None,
            files: Vec::new(),
            output,
        });
    if pending.files.iter().any(|(f, _)| *f == stream.file_name) {
        return;
    }
    pending
        .files
        .push((stream.file_name.clone(), stream.started_unix_ms));
    match save(records_dir, &pending) {
        Ok(_) => {
            info!(room = %room, file = %stream.file_name, streams = pending.files.len(), "room mix job noted (open)")
        }
        Err(e) => {
            error!(room = %room, error = %e, "cannot write the open mix job; the room is mixed only if it ends cleanly")
        }
    }
}

/// Writes the job file whole or not at all (a temporary file renamed over it), so that a
/// crash mid-write never leaves a truncated job.
fn save(records_dir: &Path, pending: &PendingMix) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(records_dir.join(JOBS_DIR))?;
    let path = job_path(records_dir, &pending.output);
    let json = serde_json::to_vec_pretty(pending).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
