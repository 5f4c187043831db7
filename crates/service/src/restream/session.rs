//! One room's restream: a thread that runs ffmpeg over the room's current publishers and
//! starts it again when they change (a new layout: the target sees a gap of about one
//! ffmpeg start, ~1-2 s) or when it fails (backing off up to 30 s), until stopped.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle_record::MixerConfig;
use huddle_sfu::TapId;
use serde::Serialize;
use tracing::{info, warn};

use super::ffmpeg::{self, EncodeSettings, LiveMix, MixSource, Progress};
use super::input::{socket_path, Input};
use super::plane::RestreamPlane;
use super::target::Target;
use huddle_room::PeerId;

/// A publisher of the room as the restream sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveStream {
    /// The stream name.
    pub name: String,
    /// Its publisher's media peer (the tap's source in the media plane).
    pub peer: PeerId,
    pub has_video: bool,
    pub has_audio: bool,
}

/// What `GET /admin/rooms` shows of a restream.
#[derive(Clone, Debug, Serialize)]
pub struct RestreamStatus {
    /// The target with its key hidden.
    pub url: String,
    pub started_unix_ms: u64,
    /// `waiting` (no publisher yet), `starting`, `running`, `retrying` or `stopped`.
    pub state: &'static str,
    /// The streams in the mix now, in tile order.
    pub inputs: Vec<String>,
    /// ffmpeg starts after the first (publisher changes and failures).
    pub restarts: u32,
    pub last_error: Option<String>,
    /// ffmpeg's output position and speed in the current run.
    pub progress: Option<Progress>,
    /// Frames the inputs dropped (queue overflow, waiting for a keyframe) in the current run.
    pub dropped_frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

pub(crate) enum Ctl {
    Streams(Vec<LiveStream>),
    Stop(String),
}

/// Everything a restream needs, fixed at its start.
pub(crate) struct Spec {
    pub room: String,
    pub target: Target,
    pub layout: MixerConfig,
    pub encode: EncodeSettings,
    pub plane: Arc<dyn RestreamPlane>,
    /// Parent of the runs' private socket folders.
    pub work_dir: PathBuf,
}

/// An ffmpeg whose output has not advanced for this long is stuck: start again.
const STALL: Duration = Duration::from_secs(20);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_millis(200);

/// Tap ids of restreams: the upper half of the id space (RTMP play counts up from 1).
static NEXT_TAP: AtomicU64 = AtomicU64::new(1 << 63);
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

pub(crate) fn run(
    spec: Spec,
    ctl: Receiver<Ctl>,
    status: Arc<Mutex<RestreamStatus>>,
    mut streams: Vec<LiveStream>,
) {
    let set = |f: &mut dyn FnMut(&mut RestreamStatus)| {
        f(&mut status.lock().unwrap_or_else(|e| e.into_inner()))
    };
    let mut current: Option<Run> = None;
    let mut retry_at: Option<Instant> = None;
    let mut backoff = BACKOFF_MIN;
    let mut runs = 0u32;
    let reason = loop {
        if current.is_none() && !streams.is_empty() && retry_at.is_none_or(|t| Instant::now() >= t)
        {
            retry_at = None;
            match Run::start(&spec, &streams) {
                Ok(r) => {
                    runs += 1;
                    info!(room = %spec.room, url = %spec.target.redacted(), inputs = streams.len(), pid = r.mix.as_ref().map(LiveMix::pid), "restream ffmpeg started");
                    set(&mut |s| {
                        s.state = "starting";
                        s.inputs = streams.iter().map(|l| l.name.clone()).collect();
                        s.restarts = runs.saturating_sub(1);
                        s.progress = None;
                        s.dropped_frames = 0;
                    });
                    current = Some(r);
                }
                Err(e) => {
                    warn!(room = %spec.room, error = %e, "restream could not start");
                    set(&mut |s| {
                        s.state = "retrying";
                        s.last_error = Some(e.clone());
                    });
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        if current.is_none() && streams.is_empty() {
            set(&mut |s| {
                s.state = "waiting";
                s.inputs.clear();
            });
        }
        match ctl.recv_timeout(TICK) {
            Ok(Ctl::Streams(new)) => {
                if new != streams {
                    info!(room = %spec.room, before = streams.len(), after = new.len(), "restream publishers changed, new layout");
                    streams = new;
                    if let Some(r) = current.take() {
                        r.stop();
                    }
                    retry_at = None;
                    backoff = BACKOFF_MIN;
                }
            }
            Ok(Ctl::Stop(reason)) => break reason,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break "server stopping".to_string(),
        }
        let Some(r) = current.as_mut() else { continue };
        let progress = r.mix.as_ref().map(LiveMix::progress);
        let running = progress.as_ref().is_some_and(|p| p.out_time_ms > 0);
        let dropped = r.dropped_frames();
        set(&mut |s| {
            if running {
                s.state = "running";
            }
            s.progress = progress.clone();
            s.dropped_frames = dropped;
        });
        if running && progress.as_ref().is_some_and(|p| p.out_time_ms > 10_000) {
            backoff = BACKOFF_MIN;
        }
        if let Some(failure) = r.failure() {
            warn!(room = %spec.room, url = %spec.target.redacted(), error = %failure, "restream ffmpeg failed, starting again");
            if let Some(r) = current.take() {
                r.stop();
            }
            set(&mut |s| {
                s.state = "retrying";
                s.last_error = Some(failure.clone());
            });
            retry_at = Some(Instant::now() + backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    };
    if let Some(r) = current.take() {
        r.stop();
    }
    info!(room = %spec.room, %reason, "restream stopped");
    set(&mut |s| {
        s.state = "stopped";
        s.stopped = Some(reason.clone());
        s.progress = None;
    });
}

/// One ffmpeg over a fixed set of publishers.
struct Run {
    dir: PathBuf,
    inputs: Vec<(Input, TapId, LiveStream)>,
    mix: Option<LiveMix>,
    plane: Arc<dyn RestreamPlane>,
}

impl Run {
    fn start(spec: &Spec, streams: &[LiveStream]) -> Result<Run, String> {
        let dir = spec.work_dir.join(format!(
            "huddle-restream-{}-{}",
            std::process::id(),
            NEXT_RUN.fetch_add(1, Ordering::Relaxed)
        ));
        // Private: nobody else may connect to the sockets and read the room.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut run = Run {
            dir,
            inputs: Vec::new(),
            mix: None,
            plane: spec.plane.clone(),
        };
        for (k, stream) in streams.iter().enumerate() {
            let input = Input::start(
                &stream.name,
                socket_path(&run.dir, k),
                stream.has_video,
                stream.has_audio,
            )
            .map_err(|e| format!("input {}: {e}", stream.name))?;
            let id = NEXT_TAP.fetch_add(1, Ordering::Relaxed);
            let tapped = spec.plane.tap(stream, id, Box::new(input.tap()));
            run.inputs.push((input, id, stream.clone()));
            tapped.map_err(|e| format!("tapping {}: {e}", stream.name))?;
        }
        let sources: Vec<MixSource> = run
            .inputs
            .iter()
            .map(|(i, _, _)| MixSource {
                socket: &i.socket,
                has_video: i.has_video,
                has_audio: i.has_audio,
            })
            .collect();
        let args = ffmpeg::args(&spec.layout, &spec.encode, &sources, spec.target.url());
        run.mix = Some(
            LiveMix::spawn(&spec.encode.ffmpeg, args)
                .map_err(|e| format!("starting {}: {e}", spec.encode.ffmpeg.display()))?,
        );
        Ok(run)
    }

    fn dropped_frames(&self) -> u64 {
        self.inputs
            .iter()
            .map(|(i, _, _)| i.state.dropped_frames.load(Ordering::Relaxed))
            .sum()
    }

    /// Why this run cannot go on: ffmpeg exited, its output is stuck, or an input broke.
    fn failure(&mut self) -> Option<String> {
        let mix = self.mix.as_mut()?;
        if let Some(status) = mix.exited() {
            // Give the stderr reader a moment to take the last lines.
            std::thread::sleep(Duration::from_millis(50));
            return Some(format!("ffmpeg exited ({status}): {}", mix.stderr_tail()));
        }
        if mix.stalled_for() > STALL {
            return Some(format!(
                "ffmpeg produced no output for {}s: {}",
                STALL.as_secs(),
                mix.stderr_tail()
            ));
        }
        let broken = self.inputs.iter().find_map(|(i, _, _)| {
            let error = i.state.error.lock().unwrap_or_else(|e| e.into_inner());
            error.as_ref().map(|e| format!("input {}: {e}", i.source))
        })?;
        // An input breaks when ffmpeg dies: its own words say more.
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if let Some(status) = mix.exited() {
                std::thread::sleep(Duration::from_millis(50));
                return Some(format!("ffmpeg exited ({status}): {}", mix.stderr_tail()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(broken)
    }

    /// Ends the run (see Drop).
    fn stop(self) {}
}

impl Drop for Run {
    /// Untaps, kills ffmpeg (its sockets close, so the writers end at once), joins the
    /// writers and removes the folder; also after a run that failed half-way through its start.
    fn drop(&mut self) {
        for (input, id, stream) in &self.inputs {
            let _ = input;
            self.plane.untap(stream, *id);
        }
        if let Some(mix) = self.mix.take() {
            mix.stop();
        }
        for (mut input, _, _) in self.inputs.drain(..) {
            input.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
