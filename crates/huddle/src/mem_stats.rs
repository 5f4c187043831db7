//! Where the server's memory is, for diagnosis (issue 15): built only with the cargo feature
//! `mem-stats` (`cargo build --release -p huddle --features mem-stats`), so a normal build has
//! neither the code nor jemalloc's statistics counters.
//!
//! With the feature, a thread prints one `mem-stats` line to stderr every
//! `HUDDLE_MEM_STATS_SECS` seconds (default 1). The process's anonymous RSS (`RssAnon`, what
//! `scripts/bench.sh` divides by the subscriptions) splits into:
//! - jemalloc (the Rust heap): `allocated` live bytes, `active` pages holding them (the
//!   difference is size-class rounding and partly used pages), `metadata`, `resident` (active +
//!   metadata + dirty pages not yet returned), `tcache` (freed blocks kept by per-thread caches);
//! - glibc malloc: what C code allocates (aws-lc's SRTP/DTLS contexts and certificates, ffmpeg
//!   is a separate process): `mallinfo2` in use and obtained from the system;
//! - the rest: thread stacks and any other anonymous mapping (`other = RssAnon - jemalloc
//!   resident - glibc system`).

use std::time::{Duration, Instant};

use tikv_jemalloc_ctl::{epoch, raw, stats};

/// Starts the reporting thread (once, at start-up).
pub fn start() {
    let period = std::env::var("HUDDLE_MEM_STATS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("huddle-mem-stats".into())
        .spawn(move || loop {
            eprintln!("{}", sample(started.elapsed()));
            std::thread::sleep(Duration::from_secs_f64(period));
        });
    if let Err(e) = spawned {
        eprintln!("mem-stats: cannot start the reporting thread: {e}");
    }
}

/// One report line; every figure in KiB.
fn sample(at: Duration) -> String {
    // jemalloc's statistics are a snapshot refreshed by advancing the epoch.
    let _ = epoch::advance();
    let kib = |bytes: usize| bytes / 1024;
    let allocated = stats::allocated::read().unwrap_or(0);
    let active = stats::active::read().unwrap_or(0);
    let metadata = stats::metadata::read().unwrap_or(0);
    let resident = stats::resident::read().unwrap_or(0);
    let retained = stats::retained::read().unwrap_or(0);
    // 4096 = MALLCTL_ARENAS_ALL: the sum over every arena.
    // SAFETY: the names are NUL-terminated jemalloc statistics of type size_t.
    let tcache: usize = unsafe { raw::read(b"stats.arenas.4096.tcache_bytes\0") }.unwrap_or(0);
    let dirty_pages: usize = unsafe { raw::read(b"stats.arenas.4096.pdirty\0") }.unwrap_or(0);
    let narenas: u32 = unsafe { raw::read(b"arenas.narenas\0") }.unwrap_or(0);
    // SAFETY: mallinfo2 only reads glibc's malloc state.
    let glibc = unsafe { libc::mallinfo2() };
    let glibc_system = glibc.arena + glibc.hblkhd;
    let glibc_inuse = glibc.uordblks + glibc.hblkhd;
    let (rss_anon, threads) = proc_status();
    let other = rss_anon.saturating_sub(kib(resident) + kib(glibc_system));
    format!(
        "mem-stats t={:.1}s rss_anon={rss_anon} je_allocated={} je_active={} je_metadata={} \
         je_resident={} je_retained={} je_tcache={} je_dirty={} je_arenas={narenas} \
         glibc_inuse={} glibc_system={} other={other} threads={threads} (KiB)",
        at.as_secs_f64(),
        kib(allocated),
        kib(active),
        kib(metadata),
        kib(resident),
        kib(retained),
        kib(tcache),
        dirty_pages * 4, // pages of 4 KiB (x86_64, aarch64 with 4 KiB pages)
        kib(glibc_inuse),
        kib(glibc_system),
    )
}

/// `RssAnon` (KiB) and the thread count from /proc/self/status.
fn proc_status() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("Threads:"))
}
