//! Room restream (`POST /admin/rooms/{room}/restream`, `docs/RESTREAM.md`): a room's live mix
//! — the offline room mix's grid and audio mix — pushed to an RTMP URL by ffmpeg.
//!
//! * `target`: URL check and redaction.
//! * `input`: per publisher, a tap (media thread, never blocks) and a writer thread giving
//!   ffmpeg a live Matroska stream on a private Unix socket.
//! * `ffmpeg`: the ffmpeg command (layout from `huddle_record::build_live_filter_graph`) and
//!   the process (stderr drained, progress read, killed and reaped on stop).
//! * `session`: one thread per restream; restarts ffmpeg on publisher changes and failures.
//! * `watch`: follows the room (publishers, finalization) from the room actor.
//! * `http`: the admin API's `POST`/`DELETE /admin/rooms/{room}/restream`.
//!
//! [`Restreams`] holds them: one per room, at most `restream_max`.

mod ffmpeg;
pub(crate) mod http;
mod input;
mod plane;
mod session;
mod target;
mod watch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use huddle_record::MixerConfig;

/// What a restream needs from the media plane (shared with RTMP play).
pub use crate::rtmp_play::TapPlane;
pub use ffmpeg::{valid_bitrate, EncodeSettings, Progress};
pub use plane::{MediaTaps, RestreamPlane};
pub use session::{LiveStream, RestreamStatus};
pub use target::Target;

use session::{Ctl, Spec};

/// Why a restream did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    BadUrl(String),
    #[error("room {0:?} is already restreamed; DELETE it first")]
    AlreadyRunning(String),
    #[error("{0} restreams run already (restream_max)")]
    Limit(usize),
    #[error("restreaming is turned off (restream_max = 0)")]
    Disabled,
    #[error("{0}")]
    Internal(String),
}

struct Session {
    id: u64,
    ctl: Sender<Ctl>,
    status: Arc<Mutex<RestreamStatus>>,
    thread: Option<JoinHandle<()>>,
}

impl Session {
    fn status(&self) -> RestreamStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops and waits for the thread (ffmpeg killed and reaped, writers joined).
    fn stop(mut self, reason: &str) {
        let _ = self.ctl.send(Ctl::Stop(reason.to_string()));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The running restreams, by room.
pub struct Restreams {
    max: usize,
    layout: MixerConfig,
    encode: EncodeSettings,
    plane: Arc<dyn RestreamPlane>,
    work_dir: PathBuf,
    sessions: Mutex<HashMap<String, Session>>,
    next_id: Mutex<u64>,
}

impl Restreams {
    /// `layout`: the room mixer's size, frame rate and background; `work_dir`: where the
    /// private socket folders go (the system's temp folder in the server).
    pub fn new(
        max: usize,
        layout: MixerConfig,
        encode: EncodeSettings,
        plane: Arc<dyn RestreamPlane>,
        work_dir: PathBuf,
    ) -> Restreams {
        Restreams {
            max,
            layout,
            encode,
            plane,
            work_dir,
            sessions: Mutex::new(HashMap::new()),
            next_id: Mutex::new(0),
        }
    }

    /// Starts restreaming `room` (with its publishers now) to `url`; returns the restream's id.
    pub fn start(
        &self,
        room: &str,
        url: &str,
        streams: Vec<LiveStream>,
    ) -> Result<u64, StartError> {
        let target = Target::parse(url).map_err(StartError::BadUrl)?;
        if self.max == 0 {
            return Err(StartError::Disabled);
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.contains_key(room) {
            return Err(StartError::AlreadyRunning(room.to_string()));
        }
        if sessions.len() >= self.max {
            return Err(StartError::Limit(self.max));
        }
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let status = Arc::new(Mutex::new(RestreamStatus {
            url: target.redacted().to_string(),
            started_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            state: "starting",
            inputs: Vec::new(),
            restarts: 0,
            last_error: None,
            progress: None,
            dropped_frames: 0,
            stopped: None,
        }));
        let (ctl, rx) = channel();
        let spec = Spec {
            room: room.to_string(),
            target,
            layout: self.layout.clone(),
            encode: self.encode.clone(),
            plane: self.plane.clone(),
            work_dir: self.work_dir.clone(),
        };
        let thread = {
            let status = status.clone();
            std::thread::Builder::new()
                .name("huddle-restream".into())
                .spawn(move || session::run(spec, rx, status, streams))
                .map_err(|e| StartError::Internal(format!("starting a thread: {e}")))?
        };
        sessions.insert(
            room.to_string(),
            Session {
                id,
                ctl,
                status,
                thread: Some(thread),
            },
        );
        Ok(id)
    }

    /// The room's publishers now (the restream lays them out again when they changed).
    pub fn update(&self, room: &str, streams: Vec<LiveStream>) {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = sessions.get(room) {
            let _ = s.ctl.send(Ctl::Streams(streams));
        }
    }

    /// Stops the room's restream (blocking until ffmpeg is gone); false if there was none.
    pub fn stop(&self, room: &str, reason: &str) -> bool {
        self.stop_if(room, None, reason)
    }

    /// Stops the room's restream if it is still the one with `id` (a watcher of an old
    /// restream must not stop a new one).
    pub fn stop_if(&self, room: &str, id: Option<u64>, reason: &str) -> bool {
        let session = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            match sessions.get(room) {
                Some(s) if id.is_none_or(|id| s.id == id) => sessions.remove(room),
                _ => None,
            }
        };
        match session {
            Some(s) => {
                s.stop(reason);
                true
            }
            None => false,
        }
    }

    /// Whether the restream `id` of `room` still runs.
    pub fn is_running(&self, room: &str, id: u64) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(room).is_some_and(|s| s.id == id)
    }

    pub fn status(&self, room: &str) -> Option<RestreamStatus> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(room).map(Session::status)
    }

    /// Every restream's state, by room.
    pub fn all(&self) -> HashMap<String, RestreamStatus> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .iter()
            .map(|(room, s)| (room.clone(), s.status()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every restream (server shutdown).
    pub fn stop_all(&self, reason: &str) {
        let all: Vec<Session> = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.drain().map(|(_, s)| s).collect()
        };
        for s in all {
            s.stop(reason);
        }
    }
}
