//! The runtime control protocol: one command per line on stdin.
//!
//! ```text
//! <link> <up|down|both> key=value ...   change one or both directions of a link
//! <link> <up|down|both> reset           back to a perfect link
//! stats                                 print the counters of every pipe (one JSON line)
//! quit                                  print the counters and exit
//! ```
//! `up` is client → server, `down` is server → client. Keys (each takes `off` too):
//! `delay=60ms`, `jitter=15ms`, `reorder=on|off`, `loss=5%` (or `0.05`), `rate=300kbit|2mbit|64000`,
//! `queue=200ms|64kB|9000` (bytes), `udp=block|pass`. Keys not given keep their value.

use std::time::Duration;

use crate::pipe::{PipeConfig, QueueLimit, DEFAULT_QUEUE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Both,
}

impl Direction {
    pub fn includes_up(self) -> bool {
        matches!(self, Direction::Up | Direction::Both)
    }
    pub fn includes_down(self) -> bool {
        matches!(self, Direction::Down | Direction::Both)
    }
}

/// One setting change.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    Reset,
    Delay(Duration),
    Jitter(Duration),
    Reorder(bool),
    Loss(f64),
    Rate(Option<u64>),
    Queue(QueueLimit),
    BlockUdp(bool),
}

impl Edit {
    pub fn apply(&self, c: &mut PipeConfig) {
        match *self {
            Edit::Reset => *c = PipeConfig::default(),
            Edit::Delay(d) => c.delay = d,
            Edit::Jitter(d) => c.jitter = d,
            Edit::Reorder(b) => c.reorder = b,
            Edit::Loss(p) => c.loss = p,
            Edit::Rate(r) => c.rate_bps = r,
            Edit::Queue(q) => c.queue = q,
            Edit::BlockUdp(b) => c.block_udp = b,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Set {
        link: String,
        direction: Direction,
        edits: Vec<Edit>,
    },
    Stats,
    Quit,
}

/// Parse one line; `Ok(None)` for a blank line or a `#` comment.
pub fn parse_line(line: &str) -> Result<Option<Command>, String> {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(None);
    };
    if first.starts_with('#') {
        return Ok(None);
    }
    match first {
        "stats" => return Ok(Some(Command::Stats)),
        "quit" => return Ok(Some(Command::Quit)),
        _ => {}
    }
    let direction = match words.next() {
        Some("up") => Direction::Up,
        Some("down") => Direction::Down,
        Some("both") => Direction::Both,
        other => {
            return Err(format!(
                "expected up|down|both after link {first:?}, got {other:?}"
            ))
        }
    };
    let edits = words.map(parse_edit).collect::<Result<Vec<_>, _>>()?;
    if edits.is_empty() {
        return Err("no settings given (key=value or reset)".into());
    }
    Ok(Some(Command::Set {
        link: first.to_string(),
        direction,
        edits,
    }))
}

fn parse_edit(word: &str) -> Result<Edit, String> {
    if word == "reset" {
        return Ok(Edit::Reset);
    }
    let (key, value) = word
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, got {word:?}"))?;
    let off = value == "off";
    Ok(match key {
        "delay" => Edit::Delay(if off {
            Duration::ZERO
        } else {
            parse_duration(value)?
        }),
        "jitter" => Edit::Jitter(if off {
            Duration::ZERO
        } else {
            parse_duration(value)?
        }),
        "reorder" => Edit::Reorder(parse_switch(value, "on")?),
        "loss" => Edit::Loss(if off { 0.0 } else { parse_probability(value)? }),
        "rate" => Edit::Rate(if off { None } else { Some(parse_rate(value)?) }),
        "queue" => Edit::Queue(if off {
            DEFAULT_QUEUE
        } else {
            parse_queue(value)?
        }),
        "udp" => Edit::BlockUdp(parse_switch(value, "block")?),
        _ => return Err(format!("unknown setting {key:?}")),
    })
}

/// `on`-word → true, `off`/`pass` → false.
fn parse_switch(value: &str, on: &str) -> Result<bool, String> {
    match value {
        v if v == on => Ok(true),
        "off" | "pass" => Ok(false),
        _ => Err(format!("expected {on} or off, got {value:?}")),
    }
}

fn split_unit(value: &str) -> (&str, &str) {
    let i = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    value.split_at(i)
}

fn number(s: &str, what: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("bad {what} {s:?}")),
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let (n, unit) = split_unit(value);
    let n = number(n, "duration")?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "us" => n / 1e6,
        _ => return Err(format!("duration needs ms, s or us: {value:?}")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn parse_probability(value: &str) -> Result<f64, String> {
    let p = match value.strip_suffix('%') {
        Some(pct) => number(pct, "loss")? / 100.0,
        None => number(value, "loss")?,
    };
    if p > 1.0 {
        return Err(format!("loss above 100 %: {value:?}"));
    }
    Ok(p)
}

fn parse_rate(value: &str) -> Result<u64, String> {
    let (n, unit) = split_unit(value);
    let n = number(n, "rate")?;
    let bps = match unit.to_ascii_lowercase().as_str() {
        "" | "bit" | "bps" => n,
        "kbit" | "kbps" | "k" => n * 1e3,
        "mbit" | "mbps" | "m" => n * 1e6,
        _ => return Err(format!("rate needs kbit or mbit: {value:?}")),
    };
    if bps < 1000.0 {
        return Err(format!("rate below 1 kbit/s: {value:?}"));
    }
    Ok(bps as u64)
}

fn parse_queue(value: &str) -> Result<QueueLimit, String> {
    let (n, unit) = split_unit(value);
    match unit {
        "ms" | "s" => Ok(QueueLimit::Time(parse_duration(value)?)),
        "" | "B" => Ok(QueueLimit::Bytes(number(n, "queue")? as usize)),
        "kB" | "KB" | "k" => Ok(QueueLimit::Bytes((number(n, "queue")? * 1000.0) as usize)),
        _ => Err(format!("queue needs ms, s, B or kB: {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(line: &str) -> (String, Direction, PipeConfig) {
        match parse_line(line).unwrap().unwrap() {
            Command::Set {
                link,
                direction,
                edits,
            } => {
                let mut c = PipeConfig::default();
                edits.iter().for_each(|e| e.apply(&mut c));
                (link, direction, c)
            }
            other => panic!("not a set: {other:?}"),
        }
    }

    #[test]
    fn parses_every_setting() {
        let (link, dir, c) = set(
            "C both delay=30ms jitter=15ms reorder=on loss=5% rate=300kbit queue=64kB udp=block",
        );
        assert_eq!(link, "C");
        assert_eq!(dir, Direction::Both);
        assert_eq!(c.delay, Duration::from_millis(30));
        assert_eq!(c.jitter, Duration::from_millis(15));
        assert!(c.reorder);
        assert!((c.loss - 0.05).abs() < 1e-12);
        assert_eq!(c.rate_bps, Some(300_000));
        assert_eq!(c.queue, QueueLimit::Bytes(64_000));
        assert!(c.block_udp);
    }

    #[test]
    fn off_and_reset_return_to_a_perfect_link() {
        let (_, dir, c) = set("A down rate=2mbit rate=off loss=0.1 loss=off");
        assert_eq!(dir, Direction::Down);
        assert_eq!(c, PipeConfig::default());
        let (_, _, c) = set("A up delay=1s reset");
        assert_eq!(c, PipeConfig::default());
    }

    #[test]
    fn control_words_blank_lines_and_comments() {
        assert_eq!(parse_line("stats").unwrap(), Some(Command::Stats));
        assert_eq!(parse_line("  quit ").unwrap(), Some(Command::Quit));
        assert_eq!(parse_line("   ").unwrap(), None);
        assert_eq!(parse_line("# note").unwrap(), None);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for bad in [
            "C sideways delay=1ms",
            "C up",
            "C up delay=10",
            "C up loss=150%",
            "C up loss=-1",
            "C up rate=fast",
            "C up rate=10bit",
            "C up colour=blue",
            "C up udp=maybe",
            "C up delay",
        ] {
            assert!(parse_line(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
