//! `huddle-netlab`: forwards IP packets between TUN device pairs with per-direction impairment.
//!
//! ```text
//! huddle-netlab --link C:nl-c-ns:nl0:nl-s-ns:nlC [--link ...] [--seed 1]
//! ```
//! creates, for every link, TUN `nl0` in namespace `nl-c-ns` (the client side) and TUN `nlC` in
//! namespace `nl-s-ns` (the server side), prints `ready`, then forwards: client → server through
//! the link's `up` pipe, server → client through its `down` pipe. Addresses and routes are the
//! caller's job (`ip -n <ns> addr add ...`). Commands on stdin change the pipes (see
//! `huddle_netlab::command`); every command is answered with one line: `ok`, `error: ...` or
//! `stats {json}`. On `quit` or end of stdin (the parent is gone) it prints the counters and exits,
//! and the TUN devices vanish with it.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use huddle_netlab::command::{parse_line, Command};
use huddle_netlab::pipe::Verdict;
use huddle_netlab::trace::Trace;
use huddle_netlab::tun::Tun;
use huddle_netlab::{Counters, Pipe, PipeConfig};

/// Packets read from one device per wake-up before the others get a turn.
const READ_BATCH: usize = 256;
/// The longest sleep when nothing is scheduled (stdin and devices wake us anyway).
const IDLE_WAIT: Duration = Duration::from_millis(500);

struct Link {
    name: String,
    client: Tun,
    server: Tun,
    /// client → server
    up: Pipe,
    /// server → client
    down: Pipe,
    write_errors: u64,
}

struct Args {
    links: Vec<[String; 5]>,
    seed: u64,
}

fn usage() -> ! {
    eprintln!("usage: huddle-netlab --link NAME:CLIENT_NS:CLIENT_TUN:SERVER_NS:SERVER_TUN [--link ...] [--seed N]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        links: Vec::new(),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--link" => {
                let spec = it.next().unwrap_or_else(|| usage());
                let parts: Vec<String> = spec.split(':').map(str::to_string).collect();
                let Ok(parts) = <[String; 5]>::try_from(parts) else {
                    usage()
                };
                args.links.push(parts);
            }
            "--seed" => {
                args.seed = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--help" | "-h" => usage(),
            _ => usage(),
        }
    }
    if args.links.is_empty() {
        usage();
    }
    args
}

fn main() {
    let args = parse_args();
    let mut links = Vec::new();
    for (i, [name, cns, ctun, sns, stun]) in args.links.into_iter().enumerate() {
        let open = |ns: &str, dev: &str| {
            Tun::create_in_netns(ns, dev).unwrap_or_else(|e| {
                eprintln!("huddle-netlab: cannot create TUN {dev} in {ns}: {e}");
                std::process::exit(1);
            })
        };
        let client = open(&cns, &ctun);
        let server = open(&sns, &stun);
        // distinct seeds per pipe, all derived from --seed: reproducible, but not identical
        let seed = args.seed.wrapping_mul(1000).wrapping_add(2 * i as u64);
        links.push(Link {
            name,
            client,
            server,
            up: Pipe::new(PipeConfig::default(), seed),
            down: Pipe::new(PipeConfig::default(), seed + 1),
            write_errors: 0,
        });
    }
    for l in &links {
        eprintln!(
            "huddle-netlab: link {}: {}/{} <-> {}/{}",
            l.name,
            l.client.netns(),
            l.client.name(),
            l.server.netns(),
            l.server.name()
        );
    }
    reply("ready");
    run(&mut links, Trace::from_env());
    reply(&format!("stats {}", stats_json(&links)));
}

fn reply(line: &str) {
    let mut out = io::stdout().lock();
    // The parent reading us may be gone; nothing useful to do about it here.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run(links: &mut [Link], mut trace: Option<Trace>) {
    let mut buf = vec![0u8; 65536];
    let mut stdin_buf: Vec<u8> = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        let wait = next_wait(links, Instant::now());
        let mut fds: Vec<libc::pollfd> = vec![pollfd(libc::STDIN_FILENO)];
        for l in links.iter() {
            fds.push(pollfd(l.client.fd()));
            fds.push(pollfd(l.server.fd()));
        }
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: fds is a valid array of fds.len() pollfd; ts outlives the call.
        let n = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            eprintln!("huddle-netlab: poll: {e}");
            return;
        }
        let now = Instant::now();
        for (i, l) in links.iter_mut().enumerate() {
            if readable(&fds[1 + 2 * i]) {
                read_into(
                    &l.client,
                    &mut l.up,
                    &mut buf,
                    now,
                    (&mut trace, &l.name, "up"),
                );
            }
            if readable(&fds[2 + 2 * i]) {
                read_into(
                    &l.server,
                    &mut l.down,
                    &mut buf,
                    now,
                    (&mut trace, &l.name, "down"),
                );
            }
        }
        let now = Instant::now();
        for l in links.iter_mut() {
            if let Some(t) = trace.as_mut() {
                note_late(t, now, &l.name, "up", l.up.next_due());
                note_late(t, now, &l.name, "down", l.down.next_due());
            }
            while let Some(p) = l.up.pop_due(now) {
                l.write_errors += u64::from(l.server.write_packet(&p).is_err());
            }
            while let Some(p) = l.down.pop_due(now) {
                l.write_errors += u64::from(l.client.write_packet(&p).is_err());
            }
        }
        if let Some(t) = trace.as_mut() {
            if now.duration_since(last_flush) > Duration::from_secs(1) {
                t.flush();
                last_flush = now;
            }
        }
        if fds[0].revents != 0 && !handle_stdin(links, &mut stdin_buf) {
            if let Some(t) = trace.as_mut() {
                t.flush();
            }
            return;
        }
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn readable(p: &libc::pollfd) -> bool {
    p.revents & libc::POLLIN != 0
}

fn next_wait(links: &[Link], now: Instant) -> Duration {
    links
        .iter()
        .flat_map(|l| [l.up.next_due(), l.down.next_due()])
        .flatten()
        .min()
        .map_or(IDLE_WAIT, |due| {
            due.saturating_duration_since(now).min(IDLE_WAIT)
        })
}

/// The emulator's own lateness worth a trace line: a packet handed out this much after its
/// departure time (the loop was not scheduled in time).
const LATE_NOTED_MS: f64 = 3.0;

fn note_late(trace: &mut Trace, now: Instant, link: &str, dir: &str, due: Option<Instant>) {
    let Some(due) = due.filter(|d| *d <= now) else {
        return;
    };
    let late_ms = now.duration_since(due).as_secs_f64() * 1000.0;
    if late_ms > LATE_NOTED_MS {
        trace.late(now, link, dir, late_ms);
    }
}

type TraceTo<'a> = (&'a mut Option<Trace>, &'a str, &'a str);

fn read_into(
    tun: &Tun,
    pipe: &mut Pipe,
    buf: &mut [u8],
    now: Instant,
    (trace, link, dir): TraceTo,
) {
    for _ in 0..READ_BATCH {
        match tun.read_packet(buf) {
            Ok(Some(n)) => {
                let verdict = pipe.push(now, buf[..n].to_vec());
                if let Some(t) = trace.as_mut() {
                    let what = match verdict {
                        Verdict::Scheduled(_) => "ok",
                        Verdict::Lost => "LOST",
                        Verdict::QueueFull => "QFULL",
                        Verdict::Blocked => "BLOCKED",
                    };
                    t.packet(now, link, dir, &buf[..n], what);
                }
            }
            Ok(None) => return,
            Err(e) => {
                eprintln!("huddle-netlab: read {}: {e}", tun.name());
                return;
            }
        }
    }
}

/// Read what stdin has, run complete lines; false on `quit` or end of input.
fn handle_stdin(links: &mut [Link], pending: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    // SAFETY: chunk is a valid writable buffer of chunk.len() bytes.
    let n = unsafe { libc::read(libc::STDIN_FILENO, chunk.as_mut_ptr().cast(), chunk.len()) };
    if n <= 0 {
        return n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted;
    }
    pending.extend_from_slice(&chunk[..n as usize]);
    while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = pending.drain(..=pos).collect();
        let line = String::from_utf8_lossy(&line);
        match parse_line(&line) {
            Ok(None) => {}
            Ok(Some(Command::Quit)) => return false,
            Ok(Some(Command::Stats)) => reply(&format!("stats {}", stats_json(links))),
            Ok(Some(Command::Set {
                link,
                direction,
                edits,
            })) => {
                let Some(l) = links.iter_mut().find(|l| l.name == link) else {
                    reply(&format!("error: no link {link:?}"));
                    continue;
                };
                for (include, pipe) in [
                    (direction.includes_up(), &mut l.up),
                    (direction.includes_down(), &mut l.down),
                ] {
                    if include {
                        let mut c = pipe.config().clone();
                        edits.iter().for_each(|e| e.apply(&mut c));
                        pipe.set_config(c);
                    }
                }
                eprintln!("huddle-netlab: {}", line.trim());
                reply("ok");
            }
            Err(e) => reply(&format!("error: {e}")),
        }
    }
    true
}

fn stats_json(links: &[Link]) -> String {
    #[derive(serde::Serialize)]
    struct LinkStats {
        up: Counters,
        down: Counters,
        write_errors: u64,
    }
    let map: BTreeMap<&str, LinkStats> = links
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                LinkStats {
                    up: l.up.counters(),
                    down: l.down.counters(),
                    write_errors: l.write_errors,
                },
            )
        })
        .collect();
    serde_json::to_string(&map).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
