//! Room restream end to end without a browser: two synthetic publishers (libx264 clips of a
//! solid colour + Opus tone, fed in real time through taps like the media plane's) are mixed
//! and pushed to a real RTMP listener (`ffmpeg -listen 1`), whose file is probed and decoded.

use crate::support::free_port;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use audiopus::coder::Encoder;
use audiopus::{Application, Channels, SampleRate};
use huddle_record::MixerConfig;
use huddle_service::restream::{
    EncodeSettings, LiveStream, RestreamStatus, Restreams, StartError, TapPlane,
};
use huddle_sfu::{Frame, FrameSink, TapId};
use str0m::media::{Frequency, MediaKind, MediaTime};

/// One synthetic publisher: its looped access units (keyframe first) and Opus packets.
struct Clip {
    video: Vec<(bool, Arc<[u8]>)>,
    audio: Vec<Arc<[u8]>>,
}

/// `seconds` of 30 fps H.264 (baseline, keyframe every second, SPS/PPS with each) of a
/// solid `colour`, split into access units at the delimiters.
fn h264_clip(colour: &str, seconds: u32) -> Vec<(bool, Arc<[u8]>)> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s=320x240:r=30:d={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-preset",
            "ultrafast",
        ])
        .args(["-pix_fmt", "yuv420p", "-bf", "0", "-g", "30"])
        .args(["-x264-params", "aud=1", "-f", "h264", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut units: Vec<Vec<u8>> = Vec::new();
    for nal in huddle_record::codec::annexb_nals(&out.stdout) {
        if huddle_record::codec::nal_type(nal) == 9 || units.is_empty() {
            units.push(Vec::new());
        }
        let unit = units.last_mut().unwrap();
        unit.extend_from_slice(&[0, 0, 0, 1]);
        unit.extend_from_slice(nal);
    }
    units
        .into_iter()
        .map(|u| {
            let key = huddle_record::codec::annexb_nals(&u)
                .iter()
                .any(|n| huddle_record::codec::nal_type(n) == 5);
            (key, Arc::from(u))
        })
        .collect()
}

/// 20 ms stereo Opus packets of a tone.
fn opus_tone(count: usize, hz: f32) -> Vec<Arc<[u8]>> {
    let enc = Encoder::new(SampleRate::Hz48000, Channels::Stereo, Application::Audio).unwrap();
    let mut t = 0usize;
    (0..count)
        .map(|_| {
            let pcm: Vec<i16> = (0..960)
                .flat_map(|_| {
                    t += 1;
                    let v =
                        ((t as f32 * hz * std::f32::consts::TAU / 48_000.0).sin() * 8000.0) as i16;
                    [v, v]
                })
                .collect();
            let mut buf = vec![0u8; 1500];
            let n = enc.encode(&pcm, &mut buf).unwrap();
            buf.truncate(n);
            Arc::from(buf)
        })
        .collect()
}

/// A media plane of synthetic publishers: a tap gets the source's clip in real time (from a
/// keyframe, as a real tap after its keyframe request) until it is removed or replaced.
#[derive(Default)]
struct SyntheticPlane {
    clips: HashMap<String, Arc<Clip>>,
    running: Mutex<HashMap<(String, TapId), Arc<AtomicBool>>>,
    taps: Mutex<u32>,
    /// Keyframe requests per source so far, and the ordinals (1 = the request a new tap
    /// makes) the publisher ignores. Modelled on the media core: a tap asks when it is added,
    /// and again once per keyframe-gate interval (1 s) while its sink wants a keyframe. After
    /// an ignored request the source sends no keyframes until a request is answered, as a
    /// browser that drops a request too soon after the last one (Chrome: within 300 ms) and
    /// sends keyframes only when asked.
    requests_of: Arc<Mutex<HashMap<String, u32>>>,
    ignored: Arc<HashMap<String, Vec<u32>>>,
}

impl SyntheticPlane {
    fn active_taps(&self) -> usize {
        self.running.lock().unwrap().len()
    }
}

impl TapPlane for SyntheticPlane {
    fn tap(&self, source: &str, id: TapId, mut sink: Box<dyn FrameSink>) -> Result<(), String> {
        let clip = self
            .clips
            .get(source)
            .cloned()
            .ok_or_else(|| format!("no stream {source}"))?;
        *self.taps.lock().unwrap() += 1;
        let (requests_of, ignored, name) = (
            self.requests_of.clone(),
            self.ignored.clone(),
            source.to_string(),
        );
        // One keyframe request; true if the publisher answers it.
        let request = move || {
            let mut requests_of = requests_of.lock().unwrap();
            let n = requests_of.entry(name.clone()).or_default();
            *n += 1;
            !ignored.get(&name).is_some_and(|o| o.contains(n))
        };
        let mut keyframes = request();
        let mut asked = Instant::now();
        let run = Arc::new(AtomicBool::new(true));
        if let Some(old) = self
            .running
            .lock()
            .unwrap()
            .insert((source.to_string(), id), run.clone())
        {
            old.store(false, Ordering::SeqCst);
        }
        thread::spawn(move || {
            let start = Instant::now();
            let (mut v, mut a) = (0usize, 0usize);
            while run.load(Ordering::SeqCst) {
                let video_at = Duration::from_micros(v as u64 * 33_333);
                let audio_at = Duration::from_millis(a as u64 * 20);
                let next = video_at.min(audio_at);
                if let Some(wait) = next.checked_sub(start.elapsed()) {
                    thread::sleep(wait);
                }
                if video_at <= audio_at {
                    if sink.wants_keyframe() && asked.elapsed() >= Duration::from_secs(1) {
                        keyframes = request();
                        asked = Instant::now();
                    }
                    let (key, data) = &clip.video[v % clip.video.len()];
                    if *key && !keyframes {
                        v += 1;
                        continue;
                    }
                    sink.frame(&Frame {
                        kind: MediaKind::Video,
                        time: MediaTime::new(1_000_000 + v as u64 * 3000, Frequency::NINETY_KHZ),
                        network_time: Instant::now(),
                        keyframe: *key,
                        data: data.clone(),
                    });
                    v += 1;
                } else {
                    sink.frame(&Frame {
                        kind: MediaKind::Audio,
                        time: MediaTime::new(500_000 + a as u64 * 960, Frequency::FORTY_EIGHT_KHZ),
                        network_time: Instant::now(),
                        keyframe: true,
                        data: clip.audio[a % clip.audio.len()].clone(),
                    });
                    a += 1;
                }
            }
            sink.close();
        });
        Ok(())
    }

    fn untap(&self, source: &str, id: TapId) {
        if let Some(run) = self
            .running
            .lock()
            .unwrap()
            .remove(&(source.to_string(), id))
        {
            run.store(false, Ordering::SeqCst);
        }
    }
}

fn plane() -> Arc<SyntheticPlane> {
    let mut clips = HashMap::new();
    for (name, colour, hz) in [("red", "red", 440.0), ("blue", "blue", 660.0)] {
        let clip = Clip {
            video: h264_clip(colour, 2),
            audio: opus_tone(100, hz),
        };
        assert!(clip.video[0].0, "the clip starts with a keyframe");
        clips.insert(name.to_string(), Arc::new(clip));
    }
    Arc::new(SyntheticPlane {
        clips,
        ..Default::default()
    })
}

fn layout() -> MixerConfig {
    MixerConfig {
        width: 640,
        height: 360,
        fps: 25,
        ..Default::default()
    }
}

fn restreams(plane: Arc<SyntheticPlane>, max: usize) -> Restreams {
    let dir = std::env::temp_dir().join(format!("huddle-restream-test-{}", std::process::id()));
    Restreams::new(max, layout(), EncodeSettings::default(), plane, dir)
}

fn stream(name: &str) -> LiveStream {
    LiveStream {
        name: name.into(),
        peer: huddle_room::PeerId(1),
        has_video: true,
        has_audio: true,
    }
}

/// `ffmpeg -listen 1` taking one RTMP publish and copying it to `out`, once it listens.
fn rtmp_listener(port: u16, out: &Path) -> Child {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-listen", "1"])
        .args(["-i", &format!("rtmp://127.0.0.1:{port}/live/room-key")])
        .args(["-c", "copy", "-f", "flv"])
        .arg(out)
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg listener");
    // Connecting to check would use up its only accept: look for the socket in LISTEN state.
    let needle = format!(":{port:04X} 00000000:0000 0A");
    wait_until("the listener", Duration::from_secs(10), || {
        std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&needle))
    });
    child
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

fn wait_child(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Our child processes running ffmpeg with a restream input (`unix:` sockets).
/// These tests run real-time ffmpeg processes and count this process's ffmpeg children:
/// side by side they would count each other's and starve each other on 2 cores, so they
/// run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn restream_ffmpegs() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1));
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            ppid == Some(me.as_str()) && String::from_utf8_lossy(&cmd).contains("unix:")
        })
        .count()
}

fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height",
        ])
        .args(["-show_entries", "format=duration", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One decoded RGB frame at `at` seconds.
fn frame_at(path: &Path, at: f64, w: usize, h: usize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-ss",
            &format!("{at}"),
            "-i",
        ])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(
        out.stdout.len(),
        w * h * 3,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn pixel(rgb: &[u8], w: usize, x: usize, y: usize) -> (u8, u8, u8) {
    let i = (y * w + x) * 3;
    (rgb[i], rgb[i + 1], rgb[i + 2])
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("huddle-restream-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn status(r: &Restreams, room: &str) -> RestreamStatus {
    r.status(room).expect("the restream runs")
}

/// Waits (at most 30 s) until the restream of `room` reports an error; returns its status.
fn wait_for_error(restreams: &Restreams, room: &str) -> RestreamStatus {
    wait_until("the error", Duration::from_secs(30), || {
        status(restreams, room).last_error.is_some()
    });
    status(restreams, room)
}

/// Stops the restream of `room`: quick (under 5 s), and nothing is left — no status, no tap
/// on the media plane, no ffmpeg child.
fn stop_and_check_clean(restreams: &Restreams, room: &str, plane: &SyntheticPlane) {
    let t = Instant::now();
    assert!(restreams.stop(room, "test over"));
    println!("stop took {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t.elapsed()
    );
    assert!(restreams.status(room).is_none());
    assert_eq!(plane.active_taps(), 0, "stopping removes the taps");
    assert_eq!(restream_ffmpegs(), 0, "ffmpeg killed and reaped");
}

#[test]
fn two_publishers_are_mixed_side_by_side_and_pushed_to_rtmp() {
    let _serial = serial();
    let plane = plane();
    let restreams = restreams(plane.clone(), 2);
    let port = free_port();
    let out = temp("mix.flv");
    let mut listener = rtmp_listener(port, &out);
    let started = Instant::now();
    let url = format!("rtmp://127.0.0.1:{port}/live/room-key");
    restreams
        .start("r1", &url, vec![stream("red"), stream("blue")])
        .unwrap();
    let s = status(&restreams, "r1");
    assert_eq!(s.url, format!("rtmp://127.0.0.1:{port}/live/***"));
    wait_until("6 s of output", Duration::from_secs(40), || {
        status(&restreams, "r1")
            .progress
            .is_some_and(|p| p.out_time_ms >= 6_000)
    });
    let s = status(&restreams, "r1");
    println!(
        "restream running: {:?} after {:?}, speed {:?}, dropped {} (loadavg {})",
        s.progress.as_ref().map(|p| p.out_time_ms),
        started.elapsed(),
        s.progress.as_ref().and_then(|p| p.speed),
        s.dropped_frames,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    assert_eq!(s.state, "running");
    assert_eq!(s.inputs, vec!["red", "blue"]);
    assert_eq!(s.restarts, 0, "{:?}", s.last_error);
    assert_eq!(plane.active_taps(), 2);

    stop_and_check_clean(&restreams, "r1", &plane);
    assert!(
        wait_child(&mut listener, Duration::from_secs(10)),
        "the listener sees the end of the stream"
    );

    let info = probe(&out);
    let streams = info["streams"].as_array().unwrap();
    let video: Vec<_> = streams
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .collect();
    assert_eq!(video.len(), 1, "{info}");
    assert_eq!(video[0]["codec_name"], "h264");
    assert_eq!(
        (video[0]["width"].as_u64(), video[0]["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert!(
        streams
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"),
        "{info}"
    );
    let duration: f64 = info["format"]["duration"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap();
    assert!(duration >= 5.0, "{info}");

    // Two tiles of 320x360: red on the left, blue on the right (each 320x240 picture
    // centred in its tile).
    let rgb = frame_at(&out, 3.0, 640, 360);
    let (r, g, b) = pixel(&rgb, 640, 160, 180);
    assert!(
        r > 180 && g < 60 && b < 60,
        "left tile is red: {:?}",
        (r, g, b)
    );
    let (r, g, b) = pixel(&rgb, 640, 480, 180);
    assert!(
        b > 180 && r < 60 && g < 60,
        "right tile is blue: {:?}",
        (r, g, b)
    );
    let (r, g, b) = pixel(&rgb, 640, 160, 10);
    assert!(
        r < 40 && g < 40 && b < 40,
        "black padding above: {:?}",
        (r, g, b)
    );
}

#[test]
fn a_dead_target_shows_the_error_and_stopping_does_not_hang() {
    let _serial = serial();
    let plane = plane();
    let restreams = restreams(plane.clone(), 2);
    // Nobody listens on this port: ffmpeg cannot connect.
    let port = free_port();
    restreams
        .start(
            "r2",
            &format!("rtmp://127.0.0.1:{port}/live/k"),
            vec![stream("red")],
        )
        .unwrap();
    let s = wait_for_error(&restreams, "r2");
    println!("dead target: {s:?}");
    assert!(matches!(s.state, "retrying" | "starting"), "{s:?}");
    let err = s.last_error.unwrap();
    assert!(
        err.contains("ffmpeg exited") || err.contains("writing"),
        "{err}"
    );
    stop_and_check_clean(&restreams, "r2", &plane);
}

#[test]
fn a_listener_killed_mid_stream_shows_the_error_and_stopping_does_not_hang() {
    let _serial = serial();
    let plane = plane();
    let restreams = restreams(plane.clone(), 2);
    let port = free_port();
    let out = temp("killed.flv");
    let mut listener = rtmp_listener(port, &out);
    restreams
        .start(
            "r5",
            &format!("rtmp://127.0.0.1:{port}/live/k"),
            vec![stream("red"), stream("blue")],
        )
        .unwrap();
    wait_until("2 s of output", Duration::from_secs(40), || {
        status(&restreams, "r5")
            .progress
            .is_some_and(|p| p.out_time_ms >= 2_000)
    });
    listener.kill().unwrap();
    listener.wait().unwrap();
    let killed = Instant::now();
    let s = wait_for_error(&restreams, "r5");
    println!("listener killed: error after {:?}: {s:?}", killed.elapsed());
    assert!(s.last_error.unwrap().contains("ffmpeg exited"));
    stop_and_check_clean(&restreams, "r5", &plane);
}

#[test]
fn a_new_publisher_gets_a_new_layout() {
    let _serial = serial();
    let plane = plane();
    let restreams = restreams(plane.clone(), 2);
    let port = free_port();
    // `-listen 1` takes one connection: listen again after each (the restart reconnects).
    let done = Arc::new(AtomicBool::new(false));
    let relisten = {
        let done = done.clone();
        thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::SeqCst) && n < 10 {
                let mut l = rtmp_listener(port, &temp(&format!("layout{n}.flv")));
                while !done.load(Ordering::SeqCst)
                    && !wait_child(&mut l, Duration::from_millis(200))
                {}
                let _ = l.kill();
                let _ = l.wait();
                n += 1;
            }
        })
    };
    let url = format!("rtmp://127.0.0.1:{port}/live/k");
    restreams.start("r6", &url, vec![stream("red")]).unwrap();
    wait_until("output with one input", Duration::from_secs(40), || {
        let s = status(&restreams, "r6");
        s.state == "running" && s.progress.is_some_and(|p| p.out_time_ms >= 1_000)
    });
    let changed = Instant::now();
    restreams.update("r6", vec![stream("red"), stream("blue")]);
    wait_until("output with two inputs", Duration::from_secs(40), || {
        let s = status(&restreams, "r6");
        s.inputs.len() == 2 && s.state == "running" && s.progress.is_some_and(|p| p.out_time_ms > 0)
    });
    let s = status(&restreams, "r6");
    println!(
        "new layout: output again {:?} after the change: {s:?}",
        changed.elapsed()
    );
    assert!(s.restarts >= 1, "{s:?}");
    assert_eq!(plane.active_taps(), 2);
    // The same set again changes nothing.
    let restarts = s.restarts;
    restreams.update("r6", vec![stream("red"), stream("blue")]);
    thread::sleep(Duration::from_millis(600));
    assert_eq!(status(&restreams, "r6").restarts, restarts);
    assert!(restreams.stop("r6", "test over"));
    done.store(true, Ordering::SeqCst);
    relisten.join().unwrap();
    assert_eq!(plane.active_taps(), 0);
    assert_eq!(restream_ffmpegs(), 0);
}

/// ffmpeg opens its inputs one after another, each after the previous one's header; an input
/// writes its header at its first keyframe, which it asks for when ffmpeg connects. A
/// publisher that ignores that request ("red"'s second) must not stall the mix until the
/// 20 s watchdog restarts it: the input's wish lasts until a keyframe comes, and the media
/// core (here the plane) asks again each gate interval while it does (tests/taps.rs in
/// huddle-sfu proves the core's side).
#[test]
fn an_ignored_keyframe_request_is_asked_again() {
    let _serial = serial();
    let base = plane();
    let plane = Arc::new(SyntheticPlane {
        clips: base.clips.clone(),
        ignored: Arc::new(HashMap::from([("red".to_string(), vec![2])])),
        ..Default::default()
    });
    let restreams = restreams(plane.clone(), 2);
    let port = free_port();
    let out = temp("reask.flv");
    // Killed even when an assertion fails first (it would wait for a connection forever).
    let _listener = KillOnDrop(rtmp_listener(port, &out));
    let started = Instant::now();
    let url = format!("rtmp://127.0.0.1:{port}/live/k");
    restreams
        .start("r8", &url, vec![stream("red"), stream("blue")])
        .unwrap();
    wait_until("output", Duration::from_secs(15), || {
        status(&restreams, "r8")
            .progress
            .is_some_and(|p| p.out_time_ms > 0)
    });
    let s = status(&restreams, "r8");
    let asked_red = plane.requests_of.lock().unwrap()["red"];
    println!(
        "ignored request: output after {:?}, red asked for {asked_red} keyframes: {s:?}",
        started.elapsed()
    );
    assert_eq!(s.restarts, 0, "{:?}", s.last_error);
    assert!(asked_red >= 3, "red was asked again ({asked_red} requests)");
    stop_and_check_clean(&restreams, "r8", &plane);
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bad_urls_doubles_and_the_limit_are_refused() {
    let _serial = serial();
    let plane = plane();
    let restreams = restreams(plane, 1);
    let err = restreams
        .start("r3", "http://127.0.0.1/live/k", vec![])
        .unwrap_err();
    assert!(
        matches!(&err, StartError::BadUrl(m) if m.contains("rtmp://")),
        "{err}"
    );
    // No publisher yet: it waits (no ffmpeg).
    restreams
        .start("r3", "rtmp://127.0.0.1:9/live/k", vec![])
        .unwrap();
    assert_eq!(
        restreams.start("r3", "rtmp://127.0.0.1:9/live/k", vec![]),
        Err(StartError::AlreadyRunning("r3".into()))
    );
    assert_eq!(
        restreams.start("r4", "rtmp://127.0.0.1:9/live/k", vec![]),
        Err(StartError::Limit(1))
    );
    wait_until("waiting", Duration::from_secs(5), || {
        status(&restreams, "r3").state == "waiting"
    });
    assert!(restreams.stop("r3", "done"));
    assert!(!restreams.stop("r3", "done"));
    restreams
        .start("r4", "rtmp://127.0.0.1:9/live/k", vec![])
        .unwrap();
    restreams.stop_all("done");
    assert!(restreams.is_empty());
}
