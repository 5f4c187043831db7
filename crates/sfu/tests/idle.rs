//! What an idle media thread costs, measured from /proc in a test process of its own (no other
//! test's media thread runs beside it). Prints the figures; the only assertion is a loose
//! bound that a polling loop would break.

use std::time::{Duration, Instant};

use huddle_sfu::{start, SfuConfig};
use tokio::sync::mpsc::unbounded_channel;

/// Not a timed assertion: prints what an idle media thread costs and how long a command
/// waits, the figures issue 13 asks for (< 0.2 % of a core idle, < 1 ms per command).
/// `HUDDLE_IDLE_SECS` sets the measuring window (default 3 s; the report used 10 s).
#[test]
fn idle_media_thread_sleeps() {
    let secs: u64 = std::env::var("HUDDLE_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let (tx, _rx) = unbounded_channel();
    let config = SfuConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        announce: vec!["127.0.0.1".parse().unwrap()],
        records_dir: std::env::temp_dir(),
        tcp_bind: Some("127.0.0.1:0".parse().unwrap()),
        ..SfuConfig::default()
    };
    let handle = start(config, tx).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let tid = media_thread_id().expect("huddle-media thread found");
    let before = thread_cpu_ticks(&tid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let ticks = thread_cpu_ticks(&tid) - before;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let core_pct = ticks as f64 / hz / t0.elapsed().as_secs_f64() * 100.0;

    // Command latency while idle: a settle barrier is a command that does nothing.
    let mut waits = Vec::new();
    for _ in 0..50 {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let sent = Instant::now();
        handle.settle(move || {
            let _ = done_tx.send(Instant::now());
        });
        let applied = done_rx.recv_timeout(Duration::from_secs(2)).unwrap();
        waits.push(applied - sent);
        std::thread::sleep(Duration::from_millis(20));
    }
    waits.sort();
    eprintln!(
        "idle media thread: {core_pct:.3} % of a core over {secs} s ({ticks} ticks); \
         command wait p50 {:?} max {:?}",
        waits[waits.len() / 2],
        waits[waits.len() - 1]
    );
    // A polling loop would show here; a sleeping one uses (next to) nothing.
    assert!(core_pct < 5.0, "idle media thread busy: {core_pct:.2} %");
    handle.shutdown();
}

fn media_thread_id() -> Option<String> {
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "huddle-media-0" {
            return path.file_name().map(|n| n.to_string_lossy().into_owned());
        }
    }
    None
}

/// utime + stime of one thread, in clock ticks.
fn thread_cpu_ticks(tid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // Fields after the parenthesised name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}
