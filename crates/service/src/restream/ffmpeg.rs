//! The ffmpeg of a restream: reads one live Matroska stream per publisher, lays them out as
//! the offline room mix does (`huddle_record::build_live_filter_graph`), encodes H.264
//! (baseline, zerolatency, a keyframe every 2 s) + AAC and pushes FLV to the RTMP URL.
//! Its stderr is drained (last lines kept for the error), its `-progress` read for the state.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use huddle_record::{build_live_filter_graph, MixerConfig, ProbedInput, ProgressParser};
use serde::Serialize;
use tracing::debug;

/// Encoding settings of the restream (the layout comes from the room mixer's config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeSettings {
    pub ffmpeg: std::path::PathBuf,
    /// libx264 target bitrate, e.g. "2500k".
    pub video_bitrate: String,
    /// AAC bitrate.
    pub audio_bitrate: String,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings {
            ffmpeg: "ffmpeg".into(),
            video_bitrate: "2500k".into(),
            audio_bitrate: "128k".into(),
        }
    }
}

/// One ffmpeg input: its socket and what it carries.
pub struct MixSource<'a> {
    pub socket: &'a Path,
    pub has_video: bool,
    pub has_audio: bool,
}

/// ffmpeg's arguments (without the binary).
pub fn args(
    layout: &MixerConfig,
    encode: &EncodeSettings,
    sources: &[MixSource],
    url: &str,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    push(
        &mut a,
        &[
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "warning",
            "-nostats",
        ],
    );
    push(&mut a, &["-progress", "pipe:1"]);
    for s in sources {
        // Small probing: the Matroska header names the codecs; a live input must not be read
        // for seconds before the mix starts.
        push(
            &mut a,
            &["-thread_queue_size", "1024", "-analyzeduration", "500000"],
        );
        push(
            &mut a,
            &[
                "-probesize",
                "262144",
                "-reinit_filter",
                "0",
                "-f",
                "matroska",
                "-i",
            ],
        );
        a.push(format!("unix:{}", s.socket.display()).into());
    }
    let probed: Vec<ProbedInput> = sources
        .iter()
        .map(|s| ProbedInput {
            // Each input starts at its own first frame (setpts PTS-STARTPTS): live inputs
            // begin together when ffmpeg starts.
            video_delay_s: s.has_video.then_some(0.0),
            audio_delay_s: s.has_audio.then_some(0.0),
        })
        .collect();
    let graph = build_live_filter_graph(layout, &probed);
    let fps = layout.fps.to_string();
    let gop = (layout.fps * 2).to_string();
    let (vb, ab) = (&encode.video_bitrate, &encode.audio_bitrate);
    let bufsize = format!("{}k", bitrate_kbps(vb).unwrap_or(2500) * 2);
    push(
        &mut a,
        &[
            "-filter_complex",
            &graph,
            "-map",
            "[vout]",
            "-map",
            "[aout]",
        ],
    );
    push(
        &mut a,
        &[
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-preset",
            "veryfast",
        ],
    );
    push(
        &mut a,
        &["-tune", "zerolatency", "-pix_fmt", "yuv420p", "-r", &fps],
    );
    push(
        &mut a,
        &["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0"],
    );
    push(&mut a, &["-b:v", vb, "-maxrate", vb, "-bufsize", &bufsize]);
    push(
        &mut a,
        &["-c:a", "aac", "-b:a", ab, "-ar", "48000", "-ac", "2"],
    );
    push(
        &mut a,
        &["-f", "flv", "-flvflags", "no_duration_filesize", url],
    );
    a
}

fn push(args: &mut Vec<OsString>, items: &[&str]) {
    args.extend(items.iter().map(OsString::from));
}

/// "2500k" / "3M" / "800000" in kbit/s.
fn bitrate_kbps(text: &str) -> Option<u64> {
    let (num, mult) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1),
        b'm' | b'M' => (&text[..text.len() - 1], 1000),
        _ => return text.parse::<u64>().ok().map(|b| b / 1000),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

/// A bitrate ffmpeg takes: digits with an optional k/M suffix.
pub fn valid_bitrate(text: &str) -> bool {
    bitrate_kbps(text).is_some_and(|k| (16..=100_000).contains(&k))
}

/// What ffmpeg reported last.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    /// Output position (ms) of this ffmpeg run.
    pub out_time_ms: u64,
    /// Speed as a multiple of real time (about 1.0 when keeping up).
    pub speed: Option<f64>,
    #[serde(skip)]
    pub advanced_at: Option<Instant>,
}

/// Lines of stderr kept for the error message.
const STDERR_KEEP: usize = 8;

/// A running ffmpeg with its reader threads.
pub struct LiveMix {
    child: Child,
    progress: Arc<Mutex<Progress>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
}

impl LiveMix {
    pub fn spawn(ffmpeg: &Path, args: Vec<OsString>) -> io::Result<LiveMix> {
        let mut child = Command::new(ffmpeg)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let progress = Arc::new(Mutex::new(Progress::default()));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut readers = Vec::new();
        if let Some(stderr) = child.stderr.take() {
            let tail = stderr_tail.clone();
            readers.push(
                thread::Builder::new()
                    .name("huddle-restream-err".into())
                    .spawn(move || {
                        for line in BufReader::new(stderr).lines() {
                            let Ok(line) = line else { break };
                            debug!(target: "huddle_service::restream::ffmpeg", "{line}");
                            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                            if tail.len() == STDERR_KEEP {
                                tail.pop_front();
                            }
                            tail.push_back(line);
                        }
                    })?,
            );
        }
        if let Some(stdout) = child.stdout.take() {
            let progress = progress.clone();
            readers.push(
                thread::Builder::new()
                    .name("huddle-restream-out".into())
                    .spawn(move || {
                        let mut parser = ProgressParser::new();
                        for line in BufReader::new(stdout).lines() {
                            let Ok(line) = line else { break };
                            let Some(report) = parser.line(&line) else {
                                continue;
                            };
                            let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                            let ms = report.out_time_us.unwrap_or(0) / 1000;
                            if ms > p.out_time_ms {
                                p.out_time_ms = ms;
                                p.advanced_at = Some(Instant::now());
                            }
                            p.speed = report.speed;
                        }
                    })?,
            );
        }
        Ok(LiveMix {
            child,
            progress,
            stderr_tail,
            readers,
            started: Instant::now(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn progress(&self) -> Progress {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How long the output has not advanced (since the start when it never did).
    pub fn stalled_for(&self) -> Duration {
        self.progress()
            .advanced_at
            .unwrap_or(self.started)
            .elapsed()
    }

    /// `Some(status)` once ffmpeg exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines ffmpeg wrote to stderr, joined.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        Vec::from(tail.clone()).join(" | ")
    }

    /// Kills ffmpeg, reaps it (no zombie) and joins its reader threads.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.stderr_tail()
    }
}

impl Drop for LiveMix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_lay_out_a_grid_and_push_flv() {
        let layout = MixerConfig {
            width: 640,
            height: 360,
            fps: 25,
            ..Default::default()
        };
        let sources = [
            MixSource {
                socket: Path::new("/tmp/r/in0.sock"),
                has_video: true,
                has_audio: true,
            },
            MixSource {
                socket: Path::new("/tmp/r/in1.sock"),
                has_video: false,
                has_audio: true,
            },
        ];
        let a: Vec<String> = args(
            &layout,
            &EncodeSettings::default(),
            &sources,
            "rtmp://h/app/k",
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        let joined = a.join(" ");
        assert!(joined.contains("-f matroska -i unix:/tmp/r/in0.sock"));
        assert!(joined.contains("-f matroska -i unix:/tmp/r/in1.sock"));
        assert!(joined.contains("-profile:v baseline -preset veryfast -tune zerolatency"));
        assert!(joined.contains("-g 50 -keyint_min 50 -sc_threshold 0"));
        assert!(joined.contains("-b:v 2500k -maxrate 2500k -bufsize 5000k"));
        assert!(joined.contains("-c:a aac"));
        assert!(joined.ends_with("-f flv -flvflags no_duration_filesize rtmp://h/app/k"));
        let graph = &a[a.iter().position(|s| s == "-filter_complex").unwrap() + 1];
        // One video tile (input 1 has none), both audios mixed.
        assert!(graph.contains("[0:v:0]") && !graph.contains("[1:v:0]"));
        assert!(graph.contains("[1:a:0]") && graph.contains("amix=inputs=2"));
    }

    #[test]
    fn bitrates() {
        assert_eq!(bitrate_kbps("2500k"), Some(2500));
        assert_eq!(bitrate_kbps("3M"), Some(3000));
        assert_eq!(bitrate_kbps("800000"), Some(800));
        assert!(valid_bitrate("128k"));
        assert!(!valid_bitrate("-1k") && !valid_bitrate("k") && !valid_bitrate("9000M"));
    }
}
