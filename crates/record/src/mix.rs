//! Offline room mix: runs Debian's `ffmpeg` as a subprocess to put every
//! participant's video in a grid (each at its real offset) and mix all
//! audio, producing one file as long as the room.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

use crate::progress::{ProgressParser, ProgressReport};

/// Mixer settings, read from JSON (like Flashphoner's `offline_mixer.json`).
/// Every field is optional; missing fields take the defaults shown.
///
/// ```json
/// {
///   "width": 1280, "height": 720, "fps": 30, "background": "black",
///   "video_codec": "libx264", "video_preset": "veryfast", "video_crf": 23,
///   "audio_codec": "libopus", "audio_bitrate": "96k", "audio_sample_rate": 48000,
///   "container": "mkv", "ffmpeg": "ffmpeg", "ffprobe": "ffprobe",
///   "threads": null, "max_runtime_secs": null,
///   "on_done": null, "on_done_timeout_secs": 120
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MixerConfig {
    /// Output width in pixels (even). Default 1280.
    pub width: u32,
    /// Output height in pixels (even). Default 720.
    pub height: u32,
    /// Output frame rate. Default 30.
    pub fps: u32,
    /// Color of the canvas and of empty tiles: an ffmpeg color name or
    /// `#RRGGBB` / `0xRRGGBB`. Default "black".
    pub background: String,
    /// ffmpeg video encoder. Default "libx264".
    pub video_codec: String,
    /// `-preset` for libx264/libx265 (ignored for other encoders). Default "veryfast".
    pub video_preset: Option<String>,
    /// `-crf` (quality) when set and no `video_bitrate` is given. Default 23.
    pub video_crf: Option<u32>,
    /// Video bitrate such as "2M"; overrides `video_crf`. Default none.
    pub video_bitrate: Option<String>,
    /// ffmpeg audio encoder. Default "libopus".
    pub audio_codec: String,
    /// Audio bitrate. Default "96k".
    pub audio_bitrate: Option<String>,
    /// Mix sample rate (stereo). Default 48000.
    pub audio_sample_rate: u32,
    /// Output container: "mkv", "webm" or "mp4". Default "mkv".
    pub container: String,
    /// ffmpeg binary. Default "ffmpeg" (from PATH).
    pub ffmpeg: PathBuf,
    /// ffprobe binary. Default "ffprobe".
    pub ffprobe: PathBuf,
    /// ffmpeg `-threads`; default none (ffmpeg decides).
    pub threads: Option<u32>,
    /// Kill ffmpeg and fail after this many seconds; default none.
    pub max_runtime_secs: Option<u64>,
    /// Program run after a successful mix with the output path as its only
    /// argument. Its failure is logged and reported, the mix still succeeds.
    pub on_done: Option<PathBuf>,
    /// The hook is killed after this many seconds. Default 120.
    pub on_done_timeout_secs: u64,
}

impl Default for MixerConfig {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30,
            background: "black".into(),
            video_codec: "libx264".into(),
            video_preset: Some("veryfast".into()),
            video_crf: Some(23),
            video_bitrate: None,
            audio_codec: "libopus".into(),
            audio_bitrate: Some("96k".into()),
            audio_sample_rate: 48_000,
            container: "mkv".into(),
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            threads: None,
            max_runtime_secs: None,
            on_done: None,
            on_done_timeout_secs: 120,
        }
    }
}

impl MixerConfig {
    pub fn from_json(json: &str) -> Result<Self, MixError> {
        let c: Self = serde_json::from_str(json)
            .map_err(|e| MixError::InvalidConfig(format!("mixer config: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    pub fn load(path: &Path) -> Result<Self, MixError> {
        let text = fs::read_to_string(path).map_err(|e| MixError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        })?;
        Self::from_json(&text)
    }

    /// Checks values that end up inside the filter graph or the command line.
    pub fn validate(&self) -> Result<(), MixError> {
        let bad = |m: String| Err(MixError::InvalidConfig(m));
        if !(16..=7680).contains(&self.width) || !(16..=4320).contains(&self.height) {
            return bad(format!("size {}x{} out of range", self.width, self.height));
        }
        if !self.width.is_multiple_of(2) || !self.height.is_multiple_of(2) {
            return bad("width and height must be even".into());
        }
        if !(1..=120).contains(&self.fps) {
            return bad(format!("fps {} out of range", self.fps));
        }
        if !(8000..=192_000).contains(&self.audio_sample_rate) {
            return bad(format!(
                "audio_sample_rate {} out of range",
                self.audio_sample_rate
            ));
        }
        let color_ok = !self.background.is_empty()
            && self.background.len() <= 32
            && self
                .background
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '#' | '@' | '.'));
        if !color_ok {
            return bad(format!(
                "background color {:?} not allowed",
                self.background
            ));
        }
        if self.container_format().is_none() {
            return bad(format!(
                "container {:?} (use mkv, webm or mp4)",
                self.container
            ));
        }
        for (name, v) in [
            ("video_codec", &self.video_codec),
            ("audio_codec", &self.audio_codec),
        ] {
            if v.is_empty() || v.starts_with('-') {
                return bad(format!("{name} {v:?} not allowed"));
            }
        }
        Ok(())
    }

    fn container_format(&self) -> Option<&'static str> {
        match self.container.as_str() {
            "mkv" | "matroska" => Some("matroska"),
            "webm" => Some("webm"),
            "mp4" => Some("mp4"),
            _ => None,
        }
    }
}

/// One recorded file and where it starts in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixInput {
    pub path: PathBuf,
    /// Start of the file's timeline (its time 0), in ms from the room start.
    /// Frames inside the file keep their own timestamps on top of this
    /// (a track whose first frame is at 300 ms appears at offset + 300 ms).
    pub offset_ms: u64,
}

impl MixInput {
    /// Offset taken from the file's Matroska `DateUTC` (written by
    /// [`crate::StreamRecorder`] as its `start_unix_ms`): `DateUTC - room start`,
    /// clamped at 0.
    pub fn from_recording(path: &Path, room_start_unix_ms: u64) -> io::Result<Self> {
        let start = read_start_unix_ms(path)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "recording has no DateUTC")
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            offset_ms: start.saturating_sub(room_start_unix_ms),
        })
    }
}

/// Reads the recording start (`Segment/Info/DateUTC`) of a Matroska file,
/// as ms since the Unix epoch. `Ok(None)` when the file has no DateUTC.
pub fn read_start_unix_ms(path: &Path) -> io::Result<Option<u64>> {
    let file = fs::File::open(path)?;
    let mut r = BufReader::new(file.take(1 << 20));
    let ns = crate::ebml::find_date_utc(&mut r)?;
    Ok(ns.map(|ns| (ns / 1_000_000 + crate::mkv::MKV_EPOCH_UNIX_MS).max(0) as u64))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixJob {
    pub inputs: Vec<MixInput>,
    /// Room duration: the output is exactly this long.
    pub duration_ms: u64,
    /// Output file; must not exist yet. ffmpeg writes `<output>.part` first.
    pub output: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error("invalid mixer config: {0}")]
    InvalidConfig(String),
    #[error("invalid mix job: {0}")]
    InvalidJob(String),
    #[error("output {0} already exists")]
    OutputExists(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("probing {path}: {reason}")]
    Probe { path: PathBuf, reason: String },
    #[error("ffmpeg failed ({status}); last output:\n{stderr_tail}")]
    Ffmpeg { status: String, stderr_tail: String },
    #[error("mix stopped after {0:?} (max_runtime_secs)")]
    Timeout(Duration),
    #[error("mix cancelled")]
    Cancelled,
    /// A bug, not bad input: the mix code panicked (the message is the panic's).
    #[error("mix panicked: {0}")]
    Panicked(String),
}

/// The text of a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs a mix, turning a panic into [`MixError::Panicked`] (logged), so that callers see a
/// failed mix with its reason instead of a dead thread or a blamed job.
fn catch_mix_panic(
    run: impl FnOnce() -> Result<MixOutcome, MixError>,
) -> Result<MixOutcome, MixError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        let message = panic_message(payload.as_ref());
        tracing::error!(panic = %message, "room mix panicked");
        Err(MixError::Panicked(message))
    })
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> MixError {
    let context = context.into();
    move |source| MixError::Io { context, source }
}

/// What ffprobe found in one input: delays (s, from room start) of its
/// first video / audio stream, None when it has none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbedInput {
    pub video_delay_s: Option<f64>,
    pub audio_delay_s: Option<f64>,
}

/// Result of a successful mix.
#[derive(Debug, Clone, Serialize)]
pub struct MixOutcome {
    pub output: PathBuf,
    pub duration_ms: u64,
    pub elapsed_ms: u64,
    /// Output duration divided by wall time (× real time).
    pub speed: f64,
    /// `Some(true/false)` when an `on_done` hook ran.
    pub hook_ok: Option<bool>,
    /// Inputs left out because ffprobe could not read them or they hold
    /// no audio/video (warned in the log). The mix fails only if all are.
    pub skipped_inputs: Vec<PathBuf>,
}

/// Grid geometry: columns = ceil(sqrt(n)), rows = ceil(n / cols), tiles even-sized.
pub fn grid(n: usize, width: u32, height: u32) -> (usize, usize, u32, u32) {
    let n = n.max(1);
    let mut cols = (n as f64).sqrt().ceil() as usize;
    while cols * cols < n {
        cols += 1;
    }
    let rows = n.div_ceil(cols);
    let tw = (width / cols as u32) & !1;
    let th = (height / rows as u32) & !1;
    (cols, rows, tw.max(2), th.max(2))
}

/// Builds the `-filter_complex` graph. Input `i` of `inputs` is ffmpeg
/// input `i`. Outputs are labelled `[vout]` and `[aout]`.
pub fn build_filter_graph(
    config: &MixerConfig,
    inputs: &[ProbedInput],
    duration_ms: u64,
) -> String {
    grid_graph(config, inputs, Some(duration_ms as f64 / 1000.0))
}

/// The same layout for a live mix (the room restream): no end, so the canvas and the audio
/// are not cut or padded to a duration; the graph runs as long as its inputs deliver.
pub fn build_live_filter_graph(config: &MixerConfig, inputs: &[ProbedInput]) -> String {
    grid_graph(config, inputs, None)
}

/// The grid layout and audio mix; `duration_s` bounds the output (offline mix) or not (live).
fn grid_graph(config: &MixerConfig, inputs: &[ProbedInput], duration_s: Option<f64>) -> String {
    let bg = &config.background;
    let (w, h, fps) = (config.width, config.height, config.fps);
    let mut g = String::new();
    let _ = write!(g, "color=c={bg}:s={w}x{h}:r={fps}");
    if let Some(dur) = duration_s {
        let _ = write!(g, ":d={dur:.3}");
    }
    g.push_str(",format=yuv420p[base]");
    let videos: Vec<(usize, f64)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.video_delay_s.map(|d| (i, d)))
        .collect();
    let (cols, _rows, tw, th) = grid(videos.len(), w, h);
    let mut last = "base".to_string();
    for (k, (i, delay)) in videos.iter().enumerate() {
        let _ = write!(
            g,
            ";[{i}:v:0]setpts=PTS-STARTPTS+{delay:.3}/TB,\
             scale={tw}:{th}:force_original_aspect_ratio=decrease,\
             pad={tw}:{th}:(ow-iw)/2:(oh-ih)/2:color={bg},setsar=1,format=yuv420p[v{k}]"
        );
        let (x, y) = ((k % cols) as u32 * tw, (k / cols) as u32 * th);
        let out = if k + 1 == videos.len() {
            "vout".to_string()
        } else {
            format!("o{k}")
        };
        let _ = write!(
            g,
            ";[{last}][v{k}]overlay=x={x}:y={y}:eof_action=pass:format=yuv420[{out}]"
        );
        last = out;
    }
    if videos.is_empty() {
        g.push_str(";[base]null[vout]");
    }

    let sr = config.audio_sample_rate;
    let audios: Vec<(usize, f64)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.audio_delay_s.map(|d| (i, d)))
        .collect();
    for (k, (i, delay)) in audios.iter().enumerate() {
        let delay_ms = (delay * 1000.0).round().max(0.0) as u64;
        // async=1 fills gaps (DTX, losses) with silence so later audio stays in place.
        let _ = write!(
            g,
            ";[{i}:a:0]asetpts=PTS-STARTPTS,aresample={sr}:async=1:first_pts=0,\
             aformat=sample_fmts=fltp:sample_rates={sr}:channel_layouts=stereo,\
             adelay={delay_ms}:all=1[a{k}]"
        );
    }
    if audios.is_empty() {
        let _ = write!(g, ";anullsrc=r={sr}:cl=stereo");
        if let Some(dur) = duration_s {
            let _ = write!(g, ",atrim=end={dur:.3}");
        }
        g.push_str("[aout]");
    } else {
        g.push(';');
        for k in 0..audios.len() {
            let _ = write!(g, "[a{k}]");
        }
        let _ = write!(
            g,
            "amix=inputs={}:duration=longest:dropout_transition=0:normalize=0",
            audios.len()
        );
        if let Some(dur) = duration_s {
            let _ = write!(g, ",apad=whole_dur={dur:.3},atrim=end={dur:.3}");
        }
        g.push_str("[aout]");
    }
    g
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    start_time: Option<String>,
}

/// Runs ffprobe on one input and returns the start time (s, in the file's
/// own timeline) of its first video and first audio stream.
pub fn probe_input(ffprobe: &Path, path: &Path) -> Result<(Option<f64>, Option<f64>), MixError> {
    let out = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time",
            "-of",
            "json",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("running {}", ffprobe.display())))?;
    let probe_err = |reason: String| MixError::Probe {
        path: path.to_path_buf(),
        reason,
    };
    if !out.status.success() {
        return Err(probe_err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let parsed: ProbeJson =
        serde_json::from_slice(&out.stdout).map_err(|e| probe_err(format!("bad JSON: {e}")))?;
    let start = |kind: &str| {
        parsed
            .streams
            .iter()
            .find(|s| s.codec_type.as_deref() == Some(kind))
            .map(|s| {
                s.start_time
                    .as_deref()
                    .and_then(|t| t.parse::<f64>().ok())
                    .filter(|t| t.is_finite())
                    .unwrap_or(0.0)
                    .max(0.0)
            })
    };
    Ok((start("video"), start("audio")))
}

fn push_last(buf: &mut VecDeque<String>, line: String, keep: usize) {
    if buf.len() == keep {
        buf.pop_front();
    }
    buf.push_back(line);
}

/// Runs a mix to completion (blocking). See [`spawn_mix`] for a background
/// variant. The source files are only read, never changed or removed.
pub fn run_mix(config: &MixerConfig, job: &MixJob) -> Result<MixOutcome, MixError> {
    catch_mix_panic(|| run_mix_inner(config, job, &mut |_| {}, &AtomicBool::new(false)))
}

/// Like [`run_mix`]; `progress` gets the fraction done (0.0..=1.0).
pub fn run_mix_with_progress(
    config: &MixerConfig,
    job: &MixJob,
    progress: &mut dyn FnMut(f64),
) -> Result<MixOutcome, MixError> {
    catch_mix_panic(|| run_mix_inner(config, job, progress, &AtomicBool::new(false)))
}

/// A mix running on its own thread.
pub struct MixHandle {
    cancel: Arc<AtomicBool>,
    thread: thread::JoinHandle<Result<MixOutcome, MixError>>,
}

impl MixHandle {
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
    /// Asks the mix to stop: ffmpeg is killed and the partial output removed.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
    /// Waits for the result (blocking; from async code use `spawn_blocking`
    /// or poll [`MixHandle::is_finished`]).
    pub fn join(self) -> Result<MixOutcome, MixError> {
        // The thread catches its own panics (catch_mix_panic); this one is the last resort.
        self.thread.join().unwrap_or_else(|payload| {
            let message = panic_message(payload.as_ref());
            tracing::error!(panic = %message, "room mix thread panicked");
            Err(MixError::Panicked(message))
        })
    }
}

/// Starts a mix on a background thread.
pub fn spawn_mix(config: MixerConfig, job: MixJob) -> MixHandle {
    let cancel = Arc::new(AtomicBool::new(false));
    let c2 = cancel.clone();
    let thread = thread::Builder::new()
        .name("huddle-mix".into())
        .spawn(move || catch_mix_panic(|| run_mix_inner(&config, &job, &mut |_| {}, &c2)))
        .expect("spawning a thread");
    MixHandle { cancel, thread }
}

fn part_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Builds the full ffmpeg argument list (without the binary).
pub fn ffmpeg_args(
    config: &MixerConfig,
    job: &MixJob,
    probed: &[ProbedInput],
    out_path: &Path,
) -> Vec<std::ffi::OsString> {
    let dur = format!("{:.3}", job.duration_ms as f64 / 1000.0);
    let mut a: Vec<std::ffi::OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    for s in [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-nostats",
    ] {
        push(s);
    }
    for s in ["-progress", "pipe:1", "-n"] {
        push(s);
    }
    for input in &job.inputs {
        // Keep the graph when a participant's resolution changes mid-stream
        // (the scale filter adapts); a graph re-init would restart the canvas.
        a.push("-reinit_filter".into());
        a.push("0".into());
        a.push("-i".into());
        a.push(input.path.clone().into_os_string());
    }
    a.push("-filter_complex".into());
    a.push(build_filter_graph(config, probed, job.duration_ms).into());
    for s in ["-map", "[vout]", "-map", "[aout]", "-c:v"] {
        a.push(s.into());
    }
    a.push(config.video_codec.clone().into());
    if let Some(p) = &config.video_preset {
        if matches!(config.video_codec.as_str(), "libx264" | "libx265") {
            a.push("-preset".into());
            a.push(p.into());
        }
    }
    if let Some(b) = &config.video_bitrate {
        a.push("-b:v".into());
        a.push(b.into());
    } else if let Some(crf) = config.video_crf {
        a.push("-crf".into());
        a.push(crf.to_string().into());
    }
    a.push("-pix_fmt".into());
    a.push("yuv420p".into());
    a.push("-r".into());
    a.push(config.fps.to_string().into());
    a.push("-c:a".into());
    a.push(config.audio_codec.clone().into());
    if let Some(b) = &config.audio_bitrate {
        a.push("-b:a".into());
        a.push(b.into());
    }
    a.push("-ar".into());
    a.push(config.audio_sample_rate.to_string().into());
    if let Some(t) = config.threads {
        a.push("-threads".into());
        a.push(t.to_string().into());
    }
    a.push("-t".into());
    a.push(dur.into());
    a.push("-f".into());
    a.push(config.container_format().unwrap_or("matroska").into());
    a.push(out_path.as_os_str().to_owned());
    a
}

fn run_mix_inner(
    config: &MixerConfig,
    job: &MixJob,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
) -> Result<MixOutcome, MixError> {
    config.validate()?;
    if job.inputs.is_empty() {
        return Err(MixError::InvalidJob("no input files".into()));
    }
    if job.duration_ms == 0 {
        return Err(MixError::InvalidJob("room duration is 0".into()));
    }
    if job.output.exists() {
        return Err(MixError::OutputExists(job.output.clone()));
    }
    let started = Instant::now();
    // Unreadable or empty inputs (e.g. a recorder that crashed before its
    // first frame) are left out so one bad file does not lose the room.
    let mut probed = Vec::with_capacity(job.inputs.len());
    let mut usable = Vec::with_capacity(job.inputs.len());
    let mut skipped = Vec::new();
    let mut first_err = None;
    for input in &job.inputs {
        let (v, a) = match probe_input(&config.ffprobe, &input.path) {
            Ok((None, None)) => {
                warn!(path = %input.path.display(), "mix input has no audio or video, left out");
                skipped.push(input.path.clone());
                continue;
            }
            Ok(va) => va,
            Err(e) => {
                warn!(path = %input.path.display(), error = %e, "mix input unreadable, left out");
                skipped.push(input.path.clone());
                first_err.get_or_insert(e);
                continue;
            }
        };
        let off = input.offset_ms as f64 / 1000.0;
        debug!(path = %input.path.display(), video_start = ?v, audio_start = ?a, off, "mix input");
        probed.push(ProbedInput {
            video_delay_s: v.map(|s| s + off),
            audio_delay_s: a.map(|s| s + off),
        });
        usable.push(input.clone());
    }
    if usable.is_empty() {
        return Err(
            first_err.unwrap_or_else(|| MixError::InvalidJob("no input has audio or video".into()))
        );
    }
    let job = &MixJob {
        inputs: usable,
        duration_ms: job.duration_ms,
        output: job.output.clone(),
    };
    if let Some(parent) = job.output.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
    }
    let part = part_path(&job.output);
    if part.exists() {
        // Left over from an earlier interrupted mix of the same output.
        fs::remove_file(&part).map_err(io_err(format!("removing {}", part.display())))?;
    }
    let args = ffmpeg_args(config, job, &probed, &part);
    info!(
        output = %job.output.display(),
        inputs = job.inputs.len(),
        duration_ms = job.duration_ms,
        "room mix started"
    );
    debug!(?args, "ffmpeg command");
    let mut child = Command::new(&config.ffmpeg)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("starting {}", config.ffmpeg.display())))?;

    let result = supervise(config, job, &mut child, progress, cancel, started);
    match result {
        Ok(()) => {}
        Err(e) => {
            let _ = fs::remove_file(&part);
            warn!(output = %job.output.display(), error = %e, "room mix failed; sources kept");
            return Err(e);
        }
    }
    // Publish without clobbering: hard_link fails if the output appeared meanwhile.
    let publish = fs::hard_link(&part, &job.output).or_else(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            Err(e)
        } else {
            // File systems without hard links: rename (checked above).
            fs::rename(&part, &job.output)
        }
    });
    let _ = fs::remove_file(&part);
    publish.map_err(io_err(format!("publishing {}", job.output.display())))?;

    let elapsed = started.elapsed();
    let speed = job.duration_ms as f64 / 1000.0 / elapsed.as_secs_f64().max(1e-6);
    info!(
        output = %job.output.display(),
        elapsed_ms = elapsed.as_millis() as u64,
        speed = format!("{speed:.1}x"),
        "room mix done"
    );
    progress(1.0);
    let hook_ok = config
        .on_done
        .as_ref()
        .map(|hook| run_hook(hook, &job.output, config.on_done_timeout_secs));
    Ok(MixOutcome {
        output: job.output.clone(),
        duration_ms: job.duration_ms,
        elapsed_ms: elapsed.as_millis() as u64,
        speed,
        hook_ok,
        skipped_inputs: skipped,
    })
}

const STDERR_KEEP: usize = 20;

fn supervise(
    config: &MixerConfig,
    job: &MixJob,
    child: &mut Child,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
    started: Instant,
) -> Result<(), MixError> {
    let stderr = child.stderr.take().expect("stderr piped");
    let stderr_thread = thread::spawn(move || {
        let mut tail = VecDeque::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            debug!(target: "huddle_record::ffmpeg", "{line}");
            push_last(&mut tail, line, STDERR_KEEP);
        }
        tail
    });
    let stdout = child.stdout.take().expect("stdout piped");
    // ffmpeg's `-progress pipe:1` blocks (crate::progress), one every ~0.5 s.
    let (tx, rx) = mpsc::channel::<ProgressReport>();
    let stdout_thread = thread::spawn(move || {
        let mut parser = ProgressParser::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(report) = parser.line(&line) {
                let _ = tx.send(report);
            }
        }
    });

    let limit = config.max_runtime_secs.map(Duration::from_secs);
    let mut next_log = 0.1;
    let status: Result<ExitStatus, MixError> = loop {
        while let Ok(report) = rx.try_recv() {
            let frac = report.fraction_of(job.duration_ms);
            progress(frac);
            if frac >= next_log {
                info!(output = %job.output.display(), percent = (frac * 100.0).round(), "room mix progress");
                while next_log <= frac {
                    next_log += 0.1;
                }
            }
        }
        match child.try_wait() {
            Ok(Some(st)) => break Ok(st),
            Ok(None) => {}
            Err(e) => break Err(io_err("waiting for ffmpeg")(e)),
        }
        if cancel.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            break Err(MixError::Cancelled);
        }
        if let Some(limit) = limit {
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break Err(MixError::Timeout(limit));
            }
        }
        thread::sleep(Duration::from_millis(50));
    };
    let _ = stdout_thread.join();
    let tail = stderr_thread.join().unwrap_or_default();
    let status = status?;
    if status.success() {
        Ok(())
    } else {
        Err(MixError::Ffmpeg {
            status: status.to_string(),
            stderr_tail: Vec::from(tail).join("\n"),
        })
    }
}

fn run_hook(hook: &Path, output: &Path, timeout_secs: u64) -> bool {
    let mut child = match Command::new(hook).arg(output).stdin(Stdio::null()).spawn() {
        Ok(c) => c,
        Err(e) => {
            warn!(hook = %hook.display(), error = %e, "on_done hook could not start");
            return false;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                if st.success() {
                    info!(hook = %hook.display(), "on_done hook finished");
                } else {
                    warn!(hook = %hook.display(), status = %st, "on_done hook failed");
                }
                return st.success();
            }
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                warn!(hook = %hook.display(), timeout_secs, "on_done hook timed out, killed");
                return false;
            }
            Err(e) => {
                warn!(hook = %hook.display(), error = %e, "on_done hook wait failed");
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_mix_is_its_own_error_with_the_message() {
        let text = catch_mix_panic(|| panic!("boom"));
        assert!(
            matches!(&text, Err(MixError::Panicked(m)) if m == "boom"),
            "{text:?}"
        );
        let formatted = catch_mix_panic(|| panic!("input {} broke", 3));
        assert!(
            matches!(&formatted, Err(MixError::Panicked(m)) if m == "input 3 broke"),
            "{formatted:?}"
        );
        // Not mistaken for a bad job, and an ordinary error passes through unchanged.
        assert_eq!(
            MixError::Panicked("boom".into()).to_string(),
            "mix panicked: boom"
        );
        assert!(matches!(
            catch_mix_panic(|| Err(MixError::Cancelled)),
            Err(MixError::Cancelled)
        ));
    }

    #[test]
    fn grid_shapes() {
        assert_eq!(grid(1, 1280, 720), (1, 1, 1280, 720));
        assert_eq!(grid(2, 1280, 720), (2, 1, 640, 720));
        assert_eq!(grid(3, 1280, 720), (2, 2, 640, 360));
        assert_eq!(grid(4, 1280, 720), (2, 2, 640, 360));
        assert_eq!(grid(5, 1280, 720), (3, 2, 426, 360));
        assert_eq!(grid(10, 1280, 720), (4, 3, 320, 240));
    }

    #[test]
    fn filter_graph_layout() {
        let cfg = MixerConfig {
            width: 640,
            height: 480,
            ..Default::default()
        };
        let inputs = [
            ProbedInput {
                video_delay_s: Some(0.0),
                audio_delay_s: Some(0.02),
            },
            ProbedInput {
                video_delay_s: None,
                audio_delay_s: Some(1.5),
            },
            ProbedInput {
                video_delay_s: Some(2.25),
                audio_delay_s: None,
            },
            ProbedInput {
                video_delay_s: Some(4.0),
                audio_delay_s: Some(4.0),
            },
        ];
        let g = build_filter_graph(&cfg, &inputs, 10_000);
        let parts: Vec<&str> = g.split(';').collect();
        assert_eq!(
            parts[0],
            "color=c=black:s=640x480:r=30:d=10.000,format=yuv420p[base]"
        );
        // 3 video inputs -> 2x2 grid of 320x240 tiles, in input order.
        assert!(g.contains("[0:v:0]setpts=PTS-STARTPTS+0.000/TB,scale=320:240:"));
        assert!(g.contains("[2:v:0]setpts=PTS-STARTPTS+2.250/TB,scale=320:240:"));
        assert!(g.contains("[3:v:0]setpts=PTS-STARTPTS+4.000/TB"));
        assert!(!g.contains("[1:v:0]"));
        assert!(g.contains("[base][v0]overlay=x=0:y=0:eof_action=pass:format=yuv420[o0]"));
        assert!(g.contains("[o0][v1]overlay=x=320:y=0:"));
        assert!(g.contains("[o1][v2]overlay=x=0:y=240:eof_action=pass:format=yuv420[vout]"));
        // Audio: three inputs delayed by their own offsets, then mixed.
        assert!(g.contains("[0:a:0]asetpts=PTS-STARTPTS,aresample=48000:async=1:first_pts=0,"));
        assert!(g.contains("adelay=20:all=1[a0]"));
        assert!(g.contains("[1:a:0]asetpts") && g.contains("adelay=1500:all=1[a1]"));
        assert!(g.contains("[3:a:0]asetpts") && g.contains("adelay=4000:all=1[a2]"));
        assert!(!g.contains("[2:a:0]"));
        assert!(g.ends_with(
            "[a0][a1][a2]amix=inputs=3:duration=longest:dropout_transition=0:normalize=0,\
             apad=whole_dur=10.000,atrim=end=10.000[aout]"
        ));
        // Every label produced is consumed exactly once.
        for k in 0..3 {
            assert_eq!(g.matches(&format!("[v{k}]")).count(), 2);
            assert_eq!(g.matches(&format!("[a{k}]")).count(), 2);
        }
    }

    #[test]
    fn filter_graph_without_video_or_audio() {
        let cfg = MixerConfig::default();
        let g = build_filter_graph(
            &cfg,
            &[ProbedInput {
                video_delay_s: None,
                audio_delay_s: Some(0.0),
            }],
            3_000,
        );
        assert!(g.contains("[base]null[vout]"));
        assert!(g.contains("amix=inputs=1"));
        let g = build_filter_graph(
            &cfg,
            &[ProbedInput {
                video_delay_s: Some(0.0),
                audio_delay_s: None,
            }],
            3_000,
        );
        assert!(g.contains("[base][v0]overlay=x=0:y=0:eof_action=pass:format=yuv420[vout]"));
        assert!(g.contains("anullsrc=r=48000:cl=stereo,atrim=end=3.000[aout]"));
    }

    #[test]
    fn live_graph_has_the_offline_layout_without_an_end() {
        let cfg = MixerConfig {
            width: 640,
            height: 360,
            ..Default::default()
        };
        let both = ProbedInput {
            video_delay_s: Some(0.0),
            audio_delay_s: Some(0.0),
        };
        let live = build_live_filter_graph(&cfg, &[both, both]);
        let offline = build_filter_graph(&cfg, &[both, both], 5_000);
        assert!(live.starts_with("color=c=black:s=640x360:r=30,format=yuv420p[base];"));
        assert!(!live.contains(":d=") && !live.contains("atrim") && !live.contains("apad"));
        assert!(
            live.ends_with("amix=inputs=2:duration=longest:dropout_transition=0:normalize=0[aout]")
        );
        // The tiles are the offline mix's: two side by side.
        for tile in ["[base][v0]overlay=x=0:y=0:", "[o0][v1]overlay=x=320:y=0:"] {
            assert!(live.contains(tile) && offline.contains(tile), "{tile}");
        }
        let silent = build_live_filter_graph(
            &cfg,
            &[ProbedInput {
                video_delay_s: Some(0.0),
                audio_delay_s: None,
            }],
        );
        assert!(silent.ends_with(";anullsrc=r=48000:cl=stereo[aout]"));
    }

    #[test]
    fn config_defaults_and_validation() {
        let c = MixerConfig::from_json("{}").unwrap();
        assert_eq!(c, MixerConfig::default());
        assert_eq!((c.width, c.height, c.fps), (1280, 720, 30));
        assert_eq!(c.video_codec, "libx264");
        assert_eq!(c.video_preset.as_deref(), Some("veryfast"));
        assert_eq!(c.audio_codec, "libopus");
        assert_eq!(c.container, "mkv");
        let c = MixerConfig::from_json(
            r#"{"width":640,"height":360,"background":"0x202020","on_done":"/bin/true"}"#,
        )
        .unwrap();
        assert_eq!((c.width, c.height), (640, 360));
        assert_eq!(c.on_done.as_deref(), Some(Path::new("/bin/true")));
        assert!(MixerConfig::from_json(r#"{"background":"black:s=1x1[x]"}"#).is_err());
        assert!(MixerConfig::from_json(r#"{"width":641}"#).is_err());
        assert!(MixerConfig::from_json(r#"{"container":"avi"}"#).is_err());
        assert!(MixerConfig::from_json(r#"{"widht":640}"#).is_err());
        assert!(MixerConfig::from_json(r#"{"video_codec":"-y"}"#).is_err());
    }
}
