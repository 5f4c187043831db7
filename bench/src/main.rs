use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use huddle_bench::media::MediaShape;
use huddle_bench::report;
use huddle_bench::scenario::{
    run_scenario, RunOpts, Scenario, ScenarioResult, Target, DEFAULT_SET,
};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "WebRTC load generator for Huddle, Janus and mediasoup (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServerKind {
    Huddle,
    Janus,
    /// mediasoup behind `bench/mediasoup/server.js` (pass the worker's pid as --server-pid).
    Mediasoup,
    /// No server: str0m publisher → str0m subscriber directly (load-generator floor).
    Direct,
}

#[derive(Args, Clone)]
struct Common {
    /// Server kind: huddle (Flashphoner WS protocol), janus (VideoRoom WS API) or mediasoup
    /// (bench/mediasoup/server.js).
    #[arg(long, value_enum, default_value = "huddle")]
    server: ServerKind,
    /// WebSocket URL of the server (loopback only).
    #[arg(
        long = "server-url",
        alias = "url",
        default_value = "ws://127.0.0.1:8080/"
    )]
    server_url: String,
    /// Loopback address the clients bind (127.0.0.2 for Janus inside its network namespace).
    #[arg(long, default_value = "127.0.0.1")]
    client_ip: IpAddr,
    /// Server process id, for CPU and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds a subscription may take to deliver media.
    #[arg(long, default_value_t = 20)]
    setup_timeout: u64,
    /// Clients set up at the same time.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
}

/// Which scenarios, and when each one's measurement window starts and how long it lasts.
#[derive(Args)]
struct Window {
    /// Comma-separated: fanout:N, meeting:N, audio:P:S, rooms:R:N.
    #[arg(long, default_value = DEFAULT_SET)]
    scenarios: String,
    /// Seconds between "all subscriptions receive media" and the window.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Measurement window in seconds.
    #[arg(long, default_value_t = 8)]
    duration: u64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run scenarios and append one JSON line per scenario to --out.
    Run {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        window: Window,
        /// Pause between scenarios, seconds (lets the server release the previous room).
        #[arg(long, default_value_t = 2)]
        pause: u64,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 1 publisher, 2 subscribers, 3 seconds; exits non-zero unless media arrives with zero loss.
    Smoke {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 3)]
        duration: u64,
    },
    /// The machine's floor: AES-256-GCM seal + batched send per packet, nothing else (see
    /// bench/src/floor.rs); appends one row `floor` per scenario to --out.
    Floor {
        #[command(flatten)]
        window: Window,
        /// Core of the sending thread (where the servers run).
        #[arg(long)]
        send_cpu: Option<usize>,
        /// Core of the receiving thread (where the load generator runs).
        #[arg(long)]
        recv_cpu: Option<usize>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the markdown report from result files.
    Report {
        /// JSON-lines result files (from `bench run --out`).
        #[arg(long, required = true)]
        results: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Free text added under "How it was run".
        #[arg(long, default_value = "")]
        notes: String,
    },
}

fn opts(c: &Common, warmup: u64, duration: u64) -> RunOpts {
    let target = match c.server {
        ServerKind::Huddle => Target::Huddle {
            url: c.server_url.clone(),
        },
        ServerKind::Janus => Target::Janus {
            url: c.server_url.clone(),
        },
        ServerKind::Mediasoup => Target::Mediasoup {
            url: c.server_url.clone(),
        },
        ServerKind::Direct => Target::Direct,
    };
    RunOpts {
        target,
        client_ip: c.client_ip,
        server_pid: c.server_pid,
        warmup: Duration::from_secs(warmup),
        measure: Duration::from_secs(duration),
        setup_timeout: Duration::from_secs(c.setup_timeout),
        concurrency: c.concurrency,
        shape: MediaShape::default(),
    }
}

fn check(c: &Common) -> Result<(), String> {
    if !c.client_ip.is_loopback() {
        return Err(format!(
            "--client-ip {} is not a loopback address",
            c.client_ip
        ));
    }
    huddle_bench::ws::check_loopback_url(&c.server_url).map_err(|e| e.to_string())
}

/// The scenarios of a comma-separated list; None (said on stderr) if one does not parse.
fn scenario_list(list: &str) -> Option<Vec<Scenario>> {
    list.split(',')
        .map(|s| Scenario::parse(s.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| eprintln!("{e}"))
        .ok()
}

/// Prints a result's line and appends its row to `out`; false (said) if it could not be written.
fn record(r: &ScenarioResult, out: Option<&std::path::Path>) -> bool {
    print_line(r);
    match out.map(|p| (p, report::append_jsonl(p, r))) {
        Some((p, Err(e))) => {
            eprintln!("writing {}: {e}", p.display());
            false
        }
        _ => true,
    }
}

fn print_line(r: &ScenarioResult) {
    let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    eprintln!(
        "{:<7} {:<14} subs {:>4}/{:<4} rx {:>8.0} pkt/s {:>7.1} Mbit/s loss {:.3}% (audio frames lost in run {}) video p50/p99 {}/{} ms audio p50/p99 {}/{} ms server cpu {}% {} us/pkt rss {} KiB ({} KiB/sub, anon {} KiB/sub) loadgen cpu {}% runq wait {}/{}% load {}{}{}{}",
        r.server,
        r.scenario,
        r.subscribers_receiving,
        r.subscriptions,
        r.rx_packets_per_s,
        r.rx_mbit_per_s,
        r.loss_pct,
        r.lost_audio_frames_total,
        f(r.lat_video_p50_ms),
        f(r.lat_video_p99_ms),
        f(r.lat_audio_p50_ms),
        f(r.lat_audio_p99_ms),
        f(r.server_cpu_pct),
        f(r.server_cpu_us_per_pkt),
        r.server_rss_kib.map(|v| v.to_string()).unwrap_or("-".into()),
        f(r.server_kib_per_subscription),
        f(r.server_anon_kib_per_subscription),
        f(r.loadgen_cpu_pct),
        f(r.server_runq_wait_pct),
        f(r.loadgen_runq_wait_pct),
        f(r.loadavg),
        shard_cpu(r),
        fanout(r),
        r.error.as_ref().map(|e| format!(" ERROR: {e}")).unwrap_or_default(),
    );
}

/// ` fan-out p99 0.61 ms of 507` (Huddle's own, from its `/metrics`), or nothing.
fn fanout(r: &ScenarioResult) -> String {
    match (r.server_fanout_p99_ms, r.server_fanouts) {
        (Some(p99), Some(n)) => format!(" fan-out p99 {p99:.2} ms of {n}"),
        _ => String::new(),
    }
}

/// ` shards cpu huddle-media-0 41.2% huddle-media-1 39.8%`, or nothing.
fn shard_cpu(r: &ScenarioResult) -> String {
    let parts: Vec<String> = r
        .shard_cpu_pct
        .iter()
        .map(|(name, pct)| format!("{name} {pct:.1}%"))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" shards cpu {}", parts.join(" "))
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,str0m=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // All clients on one thread: the load generator is meant to be pinned to one core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        match cli.cmd {
            Cmd::Run {
                common,
                window:
                    Window {
                        scenarios,
                        warmup,
                        duration,
                    },
                pause,
                out,
            } => {
                if let Err(e) = check(&common) {
                    eprintln!("{e}");
                    return 2;
                }
                let Some(list) = scenario_list(&scenarios) else {
                    return 2;
                };
                let o = opts(&common, warmup, duration);
                let mut failed = false;
                for (i, s) in list.iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_secs(pause)).await;
                    }
                    let r = run_scenario(&o, *s).await;
                    if !record(&r, out.as_deref()) {
                        return 1;
                    }
                    failed |= r.error.is_some();
                }
                i32::from(failed)
            }
            Cmd::Smoke { common, duration } => {
                if let Err(e) = check(&common) {
                    eprintln!("{e}");
                    return 2;
                }
                let o = opts(&common, 1, duration);
                let r = run_scenario(&o, Scenario::Fanout(2)).await;
                print_line(&r);
                match huddle_bench::scenario::smoke_check(&r) {
                    Ok(()) => {
                        eprintln!("smoke OK");
                        0
                    }
                    Err(e) => {
                        eprintln!("smoke FAILED: {e}");
                        1
                    }
                }
            }
            Cmd::Floor {
                window:
                    Window {
                        scenarios,
                        warmup,
                        duration,
                    },
                send_cpu,
                recv_cpu,
                out,
            } => {
                let Some(list) = scenario_list(&scenarios) else {
                    return 2;
                };
                let mut failed = false;
                for scenario in list {
                    let o = huddle_bench::floor::FloorOpts {
                        scenario,
                        warmup: Duration::from_secs(warmup),
                        measure: Duration::from_secs(duration),
                        send_cpu,
                        recv_cpu,
                        shape: MediaShape::default(),
                    };
                    // Blocks this (only) runtime thread: nothing else runs beside the floor.
                    let r = huddle_bench::floor::run(&o);
                    if !record(&r, out.as_deref()) {
                        return 1;
                    }
                    failed |= r.error.is_some();
                }
                i32::from(failed)
            }
            Cmd::Report {
                results,
                out,
                notes,
            } => match report::write_report(&results, &out, &notes) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("report: {e}");
                    1
                }
            },
        }
    });
    std::process::exit(code);
}
