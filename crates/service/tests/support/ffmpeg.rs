//! An RTMP encoder for the tests: Debian's ffmpeg pushing a synthetic picture (and tone).

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

/// Starts an ffmpeg pushing `secs` of a 160x120, 15 fps test pattern to `url` as H.264
/// constrained baseline without B-frames (what every browser plays), with a 440 Hz tone as AAC
/// when `audio`. Its output is discarded; it is killed when the handle is dropped.
pub fn push_test_pattern(url: &str, secs: u32, audio: bool) -> Child {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin", "-re"]);
    cmd.args(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15"]);
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    }
    cmd.args(["-t", &secs.to_string()])
        .args(["-c:v", "libx264", "-profile:v", "baseline", "-bf", "0"])
        .args(["-g", "15", "-pix_fmt", "yuv420p"]);
    if audio {
        cmd.args(["-c:a", "aac"]);
    } else {
        cmd.arg("-an");
    }
    cmd.args(["-f", "flv", url]);
    spawn(&mut cmd, Stdio::null())
}

/// Starts an ffmpeg command line with no input, its output discarded and its log to `stderr`;
/// it is killed when the handle is dropped (a failed test leaves no encoder running).
pub fn spawn(cmd: &mut Command, stderr: Stdio) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs")
}

/// [`push_test_pattern`] of video only, to its end (or until the server cuts it): ffmpeg's exit
/// status. Panics when ffmpeg still runs 30 s later.
pub async fn push_video_to_end(url: &str, secs: u32) -> ExitStatus {
    let mut ffmpeg = push_test_pattern(url, secs, false);
    tokio::time::timeout(Duration::from_secs(30), ffmpeg.wait())
        .await
        .expect("ffmpeg ends in time")
        .expect("ffmpeg's exit status")
}
