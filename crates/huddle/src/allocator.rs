//! The process's memory allocator: jemalloc, set to give freed memory back to the system.
//!
//! Measured with `e2e/abuse/memory_bench.js` (figures in docs/SECURITY.md): after 5,000 idle
//! WebSockets closed, glibc's malloc kept all ~69 MiB they had used (and mimalloc 2.0 as well),
//! while jemalloc with a background purging thread returned ~64 MiB of it within 2 s. A server
//! that an attacker can make allocate (connections, messages) should not keep the high-water
//! mark for good.

// The feature `system-allocator` (diagnosis only, never for production) leaves the Rust heap
// to glibc's malloc so that heaptrack can list it by call site: it does not see the
// `_rjem_`-prefixed jemalloc (docs/RTP_MODE.md, "Memory per subscription").
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (the `MALLOC_CONF` environment variable of the `_rjem_`-prefixed
/// build still overrides them, as `_RJEM_MALLOC_CONF`): a background thread purges unused
/// pages, dirty pages go back at once (default 10 s) and no "muzzy" stage keeps them longer.
/// `dirty_decay_ms:1000` kept about a second of freed packet buffers resident: +40–65 KiB of RSS
/// per video subscription at fanout:50 (docs/SHARDS.md, "Single-room figures"); with 0 the
/// figure is back at the glibc build's, for ~80 more madvise calls/s (< 0.1 % of a core).
#[cfg(not(feature = "system-allocator"))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0\0";
