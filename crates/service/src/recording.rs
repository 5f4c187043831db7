//! Room recordings after the room ends: once the media plane has finished the room's files,
//! they are mixed into one file on a blocking thread, never on the media path.
//!
//! Each mix is first written down as a job file in `<records_dir>/.jobs/` and removed when the
//! mix is over, so a mix cut short by a stop or a crash runs again at the next start.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use huddle_record::{run_mix_with_progress, MixInput, MixJob, MixerConfig};
use huddle_room::{record_name, FinalizedRoom};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

/// Folder (inside the records folder) of mixes not done yet.
const JOBS_DIR: &str = ".jobs";

/// A finalized room's mix, as stored on disk until it is done.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingMix {
    room: String,
    started_unix_ms: u64,
    ended_unix_ms: u64,
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
}

impl Recordings {
    pub(crate) fn new(records_dir: PathBuf, mixer: MixerConfig) -> Self {
        Self {
            records_dir,
            mixer: Arc::new(mixer),
            metrics: None,
        }
    }

    /// Count mixes started, done and failed.
    pub(crate) fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
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
        let output = record_name::render(
            "{room}-room-{start}",
            Some(&room.name),
            "",
            "",
            room.started_unix_ms,
        )
        .replace(".mkv", &format!(".{}", self.mixer.container));
        let pending = PendingMix {
            room: room.name.clone(),
            started_unix_ms: room.started_unix_ms,
            ended_unix_ms: room.ended_unix_ms,
            files: room
                .streams
                .iter()
                .map(|s| (s.file_name.clone(), s.started_unix_ms))
                .collect(),
            output,
        };
        let job_file = match self.save(&pending) {
            Ok(path) => path,
            Err(e) => {
                error!(room = %room.name, error = %e, "cannot write the mix job; mixing anyway");
                PathBuf::new()
            }
        };
        let this = self.clone();
        tokio::spawn(async move {
            files_closed.await;
            this.mix_in_background(pending, job_file).await;
        });
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
                    info!(room = %pending.room, output = %pending.output, "resuming an unfinished room mix");
                    let this = self.clone();
                    tokio::spawn(async move { this.mix_in_background(pending, path).await });
                }
                Err(e) => {
                    warn!(job = %path.display(), error = %e, "unreadable mix job left in place")
                }
            }
        }
    }

    fn save(&self, pending: &PendingMix) -> std::io::Result<PathBuf> {
        let dir = self.records_dir.join(JOBS_DIR);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", pending.output));
        let json = serde_json::to_vec_pretty(pending).map_err(std::io::Error::other)?;
        std::fs::write(&path, json)?;
        Ok(path)
    }

    async fn mix_in_background(&self, pending: PendingMix, job_file: PathBuf) {
        let this = self.clone();
        let room = pending.room.clone();
        if let Some(m) = &self.metrics {
            m.mixes_started.inc();
        }
        let result = tokio::task::spawn_blocking(move || this.mix(&pending)).await;
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
                // Keep the job for a later attempt and for the operator to see.
                let failed = job_file.with_extension("failed");
                let _ = std::fs::rename(&job_file, failed);
            }
            Err(e) => error!(room = %room, error = %e, "mix task panicked"),
        }
    }

    /// Blocking: build the job from the files on disk and run ffmpeg. True when finished
    /// (mixed, or nothing to mix); false on failure (the sources are kept).
    fn mix(&self, pending: &PendingMix) -> bool {
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
            duration_ms: pending
                .ended_unix_ms
                .saturating_sub(pending.started_unix_ms),
            output,
        };
        info!(room = %pending.room, inputs = job.inputs.len(), duration_ms = job.duration_ms,
            output = %job.output.display(), "room mix started");
        let mut last_tenth = 0;
        let mut progress = |done: f64| {
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
    use huddle_room::RecordedStream;

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
        let saved = jobs(&dir);
        assert_eq!(saved, vec!["комната_1-room-1000.mkv.json".to_string()]);
        let job: PendingMix =
            serde_json::from_slice(&std::fs::read(dir.join(JOBS_DIR).join(&saved[0])).unwrap())
                .unwrap();
        assert_eq!(job.files, vec![("missing.mkv".to_string(), 1_500)]);
        assert_eq!(job.ended_unix_ms - job.started_unix_ms, 10_000);

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

    #[tokio::test]
    async fn rooms_without_recording_write_no_job() {
        let dir = temp_dir("norec");
        let recordings = Recordings::new(dir.clone(), MixerConfig::default());
        recordings.room_finalized(&room(false), async {});
        assert!(jobs(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
