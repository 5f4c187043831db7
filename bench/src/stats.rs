//! Counters shared by all clients of one load-generator process, plus /proc sampling.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// Process-wide counters. The load generator runs all clients on one thread, so the mutexes
/// are never contended; atomics keep the type `Sync` for tokio.
#[derive(Default)]
pub struct Stats {
    /// True while the measurement window is open: latencies are only kept then.
    pub measuring: AtomicBool,
    pub rx_video_frames: AtomicU64,
    pub rx_audio_frames: AtomicU64,
    /// RTP packets that made up the received frames.
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    /// Frames missing according to the sequence numbers in the payload.
    pub lost_frames: AtomicU64,
    /// The audio part of `lost_frames`.
    pub lost_audio_frames: AtomicU64,
    /// Frames that str0m flagged as not contiguous (a packet gap before them).
    pub discontinuities: AtomicU64,
    pub bad_payloads: AtomicU64,
    pub tx_video_frames: AtomicU64,
    pub tx_audio_frames: AtomicU64,
    pub tx_datagrams: AtomicU64,
    /// Datagrams not sent because the destination was not a loopback address.
    pub refused_non_loopback: AtomicU64,
    pub peers_connected: AtomicU64,
    pub peers_failed: AtomicU64,
    /// Subscriber peers that got at least one media frame.
    pub subscribers_receiving: AtomicU64,
    pub lat_video_us: Mutex<Vec<u32>>,
    pub lat_audio_us: Mutex<Vec<u32>>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub at: Option<Instant>,
    pub rx_video_frames: u64,
    pub rx_audio_frames: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub lost_frames: u64,
    pub discontinuities: u64,
    pub bad_payloads: u64,
    pub tx_video_frames: u64,
    pub tx_audio_frames: u64,
}

impl Snapshot {
    pub fn delta(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            at: self.at,
            rx_video_frames: self.rx_video_frames - earlier.rx_video_frames,
            rx_audio_frames: self.rx_audio_frames - earlier.rx_audio_frames,
            rx_packets: self.rx_packets - earlier.rx_packets,
            rx_bytes: self.rx_bytes - earlier.rx_bytes,
            lost_frames: self.lost_frames - earlier.lost_frames,
            discontinuities: self.discontinuities - earlier.discontinuities,
            bad_payloads: self.bad_payloads - earlier.bad_payloads,
            tx_video_frames: self.tx_video_frames - earlier.tx_video_frames,
            tx_audio_frames: self.tx_audio_frames - earlier.tx_audio_frames,
        }
    }
}

impl Stats {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Some(Instant::now()),
            rx_video_frames: self.rx_video_frames.load(Relaxed),
            rx_audio_frames: self.rx_audio_frames.load(Relaxed),
            rx_packets: self.rx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            lost_frames: self.lost_frames.load(Relaxed),
            discontinuities: self.discontinuities.load(Relaxed),
            bad_payloads: self.bad_payloads.load(Relaxed),
            tx_video_frames: self.tx_video_frames.load(Relaxed),
            tx_audio_frames: self.tx_audio_frames.load(Relaxed),
        }
    }

    pub fn record_latency(&self, video: bool, us: u32) {
        if !self.measuring.load(Relaxed) {
            return;
        }
        let m = if video {
            &self.lat_video_us
        } else {
            &self.lat_audio_us
        };
        m.lock().expect("latency lock").push(us);
    }

    /// Take the latency samples collected so far.
    pub fn take_latencies(&self) -> (Vec<u32>, Vec<u32>) {
        let v = std::mem::take(&mut *self.lat_video_us.lock().expect("latency lock"));
        let a = std::mem::take(&mut *self.lat_audio_us.lock().expect("latency lock"));
        (v, a)
    }

    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }
}

/// Percentile (0..=100) of samples in microseconds, as milliseconds. None if empty.
pub fn percentile_ms(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0)
}

/// CPU time (user + system) of a process in seconds, and its resident set in KiB.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    pub at: Instant,
    pub cpu_secs: f64,
    pub rss_kib: u64,
    /// The anonymous part of the RSS (heap, stacks): what the server allocated. The rest,
    /// `RssFile`, is pages of the binary and libraries, a cost of the code, not of the load.
    pub rss_anon_kib: u64,
}

/// Clock ticks per second for /proc/<pid>/stat (`getconf CLK_TCK`; 100 on Linux x86).
pub fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime in seconds from the text of a /proc `stat` file (a process's or a thread's).
pub fn stat_cpu_secs(stat: &str, tck: f64) -> Option<f64> {
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / tck)
}

/// The machine's 1-minute load average (/proc/loadavg).
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Read utime+stime and VmRSS of `pid` ("self" works too).
pub fn sample_proc(pid: &str, tck: f64) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let cpu_secs = stat_cpu_secs(&stat, tck)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        at: Instant::now(),
        cpu_secs,
        rss_kib: field("VmRSS:"),
        rss_anon_kib: field("RssAnon:"),
    })
}

/// Seconds the threads of `pid` spent runnable but waiting for a CPU (sum of field 2 of
/// /proc/<pid>/task/*/schedstat). A high share means other work on the machine delayed them.
pub fn runqueue_wait_secs(pid: &str) -> Option<f64> {
    let mut total = 0u64;
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            total += s
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(total as f64 / 1e9)
}

/// CPU seconds (utime + stime) of each thread of `pid` whose name starts with `prefix`
/// (e.g. the media shards `huddle-media-0`, `huddle-media-1`), by thread name.
pub fn sample_threads(pid: &str, prefix: &str, tck: f64) -> Vec<(String, f64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, f64)> = tasks
        .filter_map(|t| {
            let path = t.ok()?.path();
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
            if !name.starts_with(prefix) {
                return None;
            }
            Some((name.to_string(), stat_cpu_secs(&stat, tck)?))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), Some(51.0));
        assert_eq!(percentile_ms(&v, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }

    #[test]
    fn reads_own_proc() {
        let s = sample_proc("self", clk_tck()).expect("own /proc");
        assert!(s.rss_kib > 0);
        assert!(s.cpu_secs >= 0.0);
    }
}
