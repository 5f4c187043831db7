//! Room recordings after the room ends: once the media plane has finished the room's files,
//! they are mixed into one file on a blocking thread, never on the media path.
//!
//! Each mix is first written down as a job file in `<records_dir>/.jobs/` and removed when the
//! mix is over, so a mix cut short by a stop or a crash runs again at the next start.
//!
//! The job file is written as soon as a recorded room's first stream starts recording, and
//! updated with each further stream: until the room ends it is *open* (`ended_unix_ms: null`).
//! The room's end completes it and starts the mix. When the process died before that (a crash,
//! `kill -9`), the next start mixes the open job too, taking as the room's end the latest
//! modification time of its recording files that exist.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use huddle_record::{run_mix_with_progress, MixInput, MixJob, MixerConfig};
use huddle_room::{record_name, FinalizedRoom, RecordedStream};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::mix_board::MixBoard;

mod job_writer;

use job_writer::{JobOp, JobQueue};

/// Folder (inside the records folder) of mixes not done yet.
const JOBS_DIR: &str = ".jobs";

/// A finalized room's mix, as stored on disk until it is done.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingMix {
    room: String,
    started_unix_ms: u64,
    /// `None` while the room is alive (or when the process died before the room ended).
    #[serde(default)]
    ended_unix_ms: Option<u64>,
    /// Recording file names (inside the records folder) and when each publish started.
    files: Vec<(String, u64)>,
    /// Output file name inside the records folder.
    output: String,
}

/// Starts and resumes room mixes.
#[derive(Clone)]
pub(crate) struct Recordings {
    records_dir: PathBuf,
    mixer: Arc<MixerConfig>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Mixes running at once (each is an ffmpeg using CPU cores); the others wait in order.
    mix_slots: Arc<tokio::sync::Semaphore>,
    /// Job files are written off the room actor, in order (see `job_writer`).
    jobs: JobQueue,
    /// Each mix's state and progress, for the admin API.
    board: Arc<MixBoard>,
}

/// Default of [`Recordings::with_mix_limit`].
const DEFAULT_CONCURRENT_MIXES: usize = 2;

impl Recordings {
    pub(crate) fn new(records_dir: PathBuf, mixer: MixerConfig) -> Self {
        Self {
            jobs: JobQueue::spawn(records_dir.clone()),
            records_dir,
            mixer: Arc::new(mixer),
            metrics: None,
            mix_slots: Arc::new(tokio::sync::Semaphore::new(DEFAULT_CONCURRENT_MIXES)),
            board: Arc::new(MixBoard::new()),
        }
    }

    /// The mixes' states and progress (`GET /admin/mixes`).
    pub(crate) fn mix_board(&self) -> Arc<MixBoard> {
        self.board.clone()
    }

    /// At most `n` (at least 1) mixes run at once.
    pub(crate) fn with_mix_limit(mut self, n: usize) -> Self {
        self.mix_slots = Arc::new(tokio::sync::Semaphore::new(n.max(1)));
        self
    }

    /// Count mixes started, done and failed.
    pub(crate) fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The mix's file name of the room `room` that started at `started_unix_ms`.
    fn output_name(&self, room: &str, started_unix_ms: u64) -> String {
        let name = record_name::render("{room}-room-{start}", Some(room), "", "", started_unix_ms);
        // Only the extension: a room called "talk.mkv" keeps its name.
        let stem = name.strip_suffix(".mkv").unwrap_or(&name);
        format!("{stem}.{}", self.mixer.container)
    }

    /// A stream of a recorded room started recording: note it in the room's open job, so that
    /// the room is mixed even if the process dies before the room ends.
    pub(crate) fn stream_recording(
        &self,
        room: &str,
        room_started_unix_ms: u64,
        stream: &RecordedStream,
    ) {
        // Queued: the read-modify-write of the job file runs on the job thread.
        self.jobs.submit(JobOp::NoteStream {
            room: room.to_string(),
            room_started_unix_ms,
            stream: stream.clone(),
            output: self.output_name(room, room_started_unix_ms),
        });
    }

    /// A room ended. When it recorded, its mix starts once `files_closed` resolves (the media
    /// plane has finished every file of the room).
    pub(crate) fn room_finalized(
        &self,
        room: &FinalizedRoom,
        files_closed: impl Future<Output = ()> + Send + 'static,
    ) {
        if !room.record {
            return;
        }
        if room.streams.is_empty() {
            info!(room = %room.name, "recorded room ended with no stream; nothing to mix");
            return;
        }
        let output = self.output_name(&room.name, room.started_unix_ms);
        let pending = PendingMix {
            room: room.name.clone(),
            started_unix_ms: room.started_unix_ms,
            ended_unix_ms: Some(room.ended_unix_ms),
            files: room
                .streams
                .iter()
                .map(|s| (s.file_name.clone(), s.started_unix_ms))
                .collect(),
            output,
        };
        // The job file is written on the job thread (after the streams' notes, in order);
        // then the mix waits for the files and a slot on the runtime.
        let this = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let mix = pending.clone();
        self.jobs.submit(JobOp::Finalize {
            pending,
            then: Box::new(move |job_file| {
                runtime.spawn(async move {
                    files_closed.await;
                    this.mix_in_background(mix, job_file).await;
                });
            }),
        });
    }

    /// Resolves once every job file write queued before is done (shutdown and tests wait on it).
    pub(crate) async fn jobs_written(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        self.jobs.submit(JobOp::Written(done));
        let _ = written.await;
    }

    /// Runs the mixes a previous run left unfinished.
    pub(crate) fn resume_pending(&self) {
        let dir = self.records_dir.join(JOBS_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<PendingMix>(&bytes).map_err(|e| e.to_string())
                }) {
                Ok(pending) => {
                    info!(room = %pending.room, output = %pending.output, open = pending.ended_unix_ms.is_none(),
                        "resuming an unfinished room mix");
                    let this = self.clone();
                    tokio::spawn(async move { this.mix_in_background(pending, path).await });
                }
                Err(e) => {
                    warn!(job = %path.display(), error = %e, "unreadable mix job left in place")
                }
            }
        }
    }

    async fn mix_in_background(&self, pending: PendingMix, job_file: PathBuf) {
        let this = self.clone();
        let room = pending.room.clone();
        let output = pending.output.clone();
        let duration_ms = pending
            .ended_unix_ms
            .map(|end| end.saturating_sub(pending.started_unix_ms));
        self.board.waiting(&output, &room, duration_ms);
        // Wait for a slot (FIFO); the semaphore is never closed.
        let Ok(_slot) = self.mix_slots.clone().acquire_owned().await else {
            return;
        };
        if let Some(m) = &self.metrics {
            m.mixes_started.inc();
        }
        let result = tokio::task::spawn_blocking(move || this.mix(&pending)).await;
        self.board.finished(&output, matches!(result, Ok(true)));
        if let Some(m) = &self.metrics {
            match result {
                Ok(true) => m.mixes_done.inc(),
                _ => m.mixes_failed.inc(),
            }
        }
        match result {
            Ok(true) => {
                if !job_file.as_os_str().is_empty() {
                    let _ = std::fs::remove_file(&job_file);
                }
            }
            Ok(false) => {
                // Kept for the operator (the admin API lists it under failed_mixes), not
                // retried by itself: a mix that failed (bad input, ffmpeg error) would fail
                // again at every start. Renaming it back to .json retries it.
                let failed = job_file.with_extension("failed");
                if let Err(e) = std::fs::rename(&job_file, &failed) {
                    error!(room = %room, job = %job_file.display(), error = %e, "cannot mark the failed mix job");
                }
            }
            Err(e) => error!(room = %room, error = %e, "mix task panicked"),
        }
    }

    /// Blocking: build the job from the files on disk and run ffmpeg. True when finished
    /// (mixed, or nothing to mix); false on failure (the sources are kept).
    fn mix(&self, pending: &PendingMix) -> bool {
        let ended_unix_ms = match pending.ended_unix_ms {
            Some(ended) => ended,
            None => {
                let ended = open_room_end(&self.records_dir, pending);
                info!(room = %pending.room, duration_ms = ended.saturating_sub(pending.started_unix_ms),
                    "the room never ended (the process died): it ends with its last recording's last write");
                ended
            }
        };
        let inputs = mix_inputs(&self.records_dir, pending);
        if inputs.is_empty() {
            warn!(room = %pending.room, "none of the room's recordings holds media; no mix");
            return true;
        }
        let output = self.records_dir.join(&pending.output);
        if output.exists() {
            info!(room = %pending.room, output = %output.display(), "room mix already exists");
            return true;
        }
        let job = MixJob {
            inputs,
            duration_ms: ended_unix_ms.saturating_sub(pending.started_unix_ms),
            output,
        };
        info!(room = %pending.room, inputs = job.inputs.len(), duration_ms = job.duration_ms,
            output = %job.output.display(), "room mix started");
        self.board.running(&pending.output, job.duration_ms);
        let mut last_tenth = 0;
        let mut progress = |done: f64| {
            self.board.progress(&pending.output, done);
            let tenth = (done * 10.0) as u32;
            if tenth > last_tenth {
                last_tenth = tenth;
                info!(room = %pending.room, percent = tenth * 10, "room mix progress");
            }
        };
        match run_mix_with_progress(&self.mixer, &job, &mut progress) {
            Ok(outcome) => {
                info!(room = %pending.room, output = %outcome.output.display(), speed = outcome.speed,
                    elapsed_ms = outcome.elapsed_ms, skipped = outcome.skipped_inputs.len(),
                    hook_ok = ?outcome.hook_ok, "room mix done");
                true
            }
            Err(e) => {
                error!(room = %pending.room, error = %e, "room mix failed; the recordings are kept");
                false
            }
        }
    }
}

/// The end of a room whose job is still open: the latest modification time of its recording
/// files that exist (the room's start when none does).
fn open_room_end(records_dir: &Path, pending: &PendingMix) -> u64 {
    pending
        .files
        .iter()
        .filter_map(|(name, _)| modified_unix_ms(&records_dir.join(name)))
        .max()
        .unwrap_or(pending.started_unix_ms)
        .max(pending.started_unix_ms)
}

/// A file's last modification, in ms since the Unix epoch (None when it cannot be read).
fn modified_unix_ms(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since_epoch = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since_epoch.as_millis() as u64)
}

/// The room's recordings that exist, each at its offset from the room start (read from the
/// file's own start time, else from when its publish started).
fn mix_inputs(records_dir: &Path, pending: &PendingMix) -> Vec<MixInput> {
    pending
        .files
        .iter()
        .filter_map(|(name, started)| {
            let path = records_dir.join(name);
            if !path.is_file() {
                warn!(room = %pending.room, file = %name, "recording missing (no media arrived?); left out of the mix");
                return None;
            }
            Some(MixInput::from_recording(&path, pending.started_unix_ms).unwrap_or(MixInput {
                offset_ms: started.saturating_sub(pending.started_unix_ms),
                path,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_named_like_a_file_keeps_its_name() {
        let r = Recordings::new(PathBuf::from("/tmp"), MixerConfig::default());
        let name = r.output_name("talk.mkv", 7);
        assert!(name.starts_with("talk.mkv-room-"), "{name}");
        assert!(
            name.ends_with(&format!(".{}", MixerConfig::default().container)),
            "{name}"
        );
    }

    #[tokio::test]
    async fn mixes_wait_for_a_slot() {
        let r = Recordings::new(PathBuf::from("/tmp"), MixerConfig::default()).with_mix_limit(1);
        let held = r.mix_slots.clone().acquire_owned().await.unwrap();
        assert_eq!(r.mix_slots.available_permits(), 0, "one mix at a time");
        drop(held);
        assert_eq!(r.mix_slots.available_permits(), 1);
    }

    fn room(record: bool) -> FinalizedRoom {
        FinalizedRoom {
            name: "комната/1".into(),
            record,
            started_unix_ms: 1_000,
            ended_unix_ms: 11_000,
            streams: vec![RecordedStream {
                file_name: "missing.mkv".into(),
                login: "alice".into(),
                stream: "s".into(),
                started_unix_ms: 1_500,
            }],
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("huddle-rec-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn jobs(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir.join(JOBS_DIR))
            .map(|e| {
                e.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_job_is_on_disk_before_the_files_are_closed_and_resumes_later() {
        let dir = temp_dir("job");
        let recordings = Recordings::new(dir.clone(), MixerConfig::default());
        // The media plane never settles (the process is about to stop).
        recordings.room_finalized(&room(true), std::future::pending());
        recordings.jobs_written().await;
        let saved = jobs(&dir);
        assert_eq!(saved, vec!["комната_1-room-1000.mkv.json".to_string()]);
        let job: PendingMix =
            serde_json::from_slice(&std::fs::read(dir.join(JOBS_DIR).join(&saved[0])).unwrap())
                .unwrap();
        assert_eq!(job.files, vec![("missing.mkv".to_string(), 1_500)]);
        assert_eq!(job.ended_unix_ms.unwrap() - job.started_unix_ms, 10_000);

        // Next start: the job runs; its only input is missing, so there is nothing to mix and
        // the job is done (removed) rather than retried for ever.
        let next = Recordings::new(dir.clone(), MixerConfig::default());
        next.resume_pending();
        for _ in 0..100 {
            if jobs(&dir).is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            jobs(&dir).is_empty(),
            "resumed job finished: {:?}",
            jobs(&dir)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn read_job(dir: &Path, name: &str) -> PendingMix {
        serde_json::from_slice(&std::fs::read(dir.join(JOBS_DIR).join(name)).unwrap()).unwrap()
    }

    async fn wait_for_no_jobs(dir: &Path) {
        for _ in 0..500 {
            if jobs(dir).is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn recorded(file_name: &str, started_unix_ms: u64) -> RecordedStream {
        RecordedStream {
            file_name: file_name.into(),
            login: "alice".into(),
            stream: "s".into(),
            started_unix_ms,
        }
    }

    #[tokio::test]
    async fn each_recorded_stream_updates_the_open_job_and_the_end_completes_it() {
        let dir = temp_dir("open");
        let recordings = Recordings::new(dir.clone(), MixerConfig::default());
        recordings.stream_recording("R", 1_000, &recorded("a.mkv", 1_200));
        recordings.jobs_written().await;
        let name = "R-room-1000.mkv.json";
        assert_eq!(jobs(&dir), vec![name.to_string()]);
        let job = read_job(&dir, name);
        assert_eq!(job.ended_unix_ms, None, "open until the room ends");
        assert_eq!(job.files, vec![("a.mkv".to_string(), 1_200)]);
        recordings.stream_recording("R", 1_000, &recorded("b.mkv", 3_000));
        // The same stream twice is noted once.
        recordings.stream_recording("R", 1_000, &recorded("b.mkv", 3_000));
        recordings.jobs_written().await;
        let job = read_job(&dir, name);
        assert_eq!(job.ended_unix_ms, None);
        assert_eq!(
            job.files,
            vec![("a.mkv".to_string(), 1_200), ("b.mkv".to_string(), 3_000)]
        );
        assert_eq!(
            jobs(&dir).len(),
            1,
            "no temporary file left: {:?}",
            jobs(&dir)
        );
        // The room ends; its mix never settles here, the job is completed on disk.
        let mut room = room(true);
        room.name = "R".into();
        room.streams = vec![recorded("a.mkv", 1_200), recorded("b.mkv", 3_000)];
        recordings.room_finalized(&room, std::future::pending());
        recordings.jobs_written().await;
        let job = read_job(&dir, name);
        assert_eq!(job.ended_unix_ms, Some(11_000));
        assert_eq!(job.files.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_open_job_without_recordings_is_done_at_the_next_start() {
        let dir = temp_dir("open-missing");
        let crashed = Recordings::new(dir.clone(), MixerConfig::default());
        crashed.stream_recording("R", 1_000, &recorded("missing.mkv", 1_200));
        crashed.jobs_written().await;
        assert_eq!(jobs(&dir).len(), 1);
        // "Crash": the room never ends. Next start.
        Recordings::new(dir.clone(), MixerConfig::default()).resume_pending();
        wait_for_no_jobs(&dir).await;
        assert!(jobs(&dir).is_empty(), "{:?}", jobs(&dir));
        assert!(!dir.join("R-room-1000.mkv").exists(), "nothing to mix");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_open_job_is_mixed_at_the_next_start_up_to_its_last_write() {
        let dir = temp_dir("open-mix");
        // A tiny recording, as the recorder would have left it.
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=1"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus"])
            .arg(dir.join("a.mkv"))
            .status()
            .expect("ffmpeg runs");
        assert!(status.success());
        // The room started 2 s before the recording's last write. Taken from the file, not
        // the clock before ffmpeg ran: on a loaded CI machine ffmpeg took 12 s to write it.
        let started = modified_unix_ms(&dir.join("a.mkv")).expect("its mtime") - 2_000;
        let mixer = MixerConfig {
            width: 64,
            height: 48,
            fps: 10,
            video_preset: Some("ultrafast".into()),
            ..MixerConfig::default()
        };
        let crashed = Recordings::new(dir.clone(), mixer.clone());
        crashed.stream_recording("R", started, &recorded("a.mkv", started + 100));
        crashed.jobs_written().await;
        assert_eq!(
            read_job(&dir, &format!("R-room-{started}.mkv.json")).ended_unix_ms,
            None
        );

        let resumed = Recordings::new(dir.clone(), mixer);
        resumed.resume_pending();
        wait_for_no_jobs(&dir).await;
        assert!(jobs(&dir).is_empty(), "{:?}", jobs(&dir));
        // The admin API's board saw the mix through to the end.
        let board = resumed.mix_board().snapshot();
        assert_eq!(board.len(), 1, "{board:?}");
        assert_eq!(board[0].output, format!("R-room-{started}.mkv"));
        assert_eq!(board[0].state, crate::mix_board::MixState::Done);
        assert_eq!(board[0].percent, 100.0);
        assert!(
            board[0].duration_ms.is_some_and(|d| d >= 1_500),
            "{board:?}"
        );
        let out = dir.join(format!("R-room-{started}.mkv"));
        assert!(out.is_file(), "mixed output {}", out.display());
        // The room lasted from its start to the recording's last write (about 2 s).
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(&out)
            .output()
            .unwrap();
        let duration: f64 = String::from_utf8_lossy(&probe.stdout)
            .trim()
            .parse()
            .unwrap();
        assert!((1.5..6.0).contains(&duration), "mix lasts {duration} s");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn rooms_without_recording_write_no_job() {
        let dir = temp_dir("norec");
        let recordings = Recordings::new(dir.clone(), MixerConfig::default());
        recordings.room_finalized(&room(false), async {});
        recordings.jobs_written().await;
        assert!(jobs(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
