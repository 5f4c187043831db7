//! Huddle's own share of the latency: its `huddle_media_fanout_seconds` histogram (the time
//! from a publisher frame's end to the last of its players' copies sent, RTP mode; huddle_sfu's
//! fanout_time.rs), read from `/metrics` before and after the window. Set beside the p99 the
//! load generator measures, it tells the server's part from the machine's and the load
//! generator's (docs/RTP_MODE.md, "Latency: where the p99 is").

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "huddle_media_fanout_seconds_bucket{le=\"";

/// The histogram's buckets: (upper bound in seconds, cumulative count), `+Inf` last.
pub type Buckets = Vec<(f64, u64)>;

/// The histogram from `/metrics` of the server whose signalling URL is `url`
/// (`ws://host:port/...`); `None` if it cannot be read (another server, TLS, no such metric).
pub async fn scrape(url: &str) -> Option<Buckets> {
    let host = url.strip_prefix("ws://")?.split('/').next()?;
    let get = async {
        let mut s = TcpStream::connect(host).await.ok()?;
        let req = format!("GET /metrics HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).await.ok()?;
        Some(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(2), get)
        .await
        .ok()??;
    let buckets = parse(&body);
    (!buckets.is_empty()).then_some(buckets)
}

/// The bucket lines of the histogram in a Prometheus text exposition.
pub fn parse(text: &str) -> Buckets {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(NAME)?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

/// Fan-outs between two scrapes, and the `q` quantile of their times in ms, interpolated
/// within its bucket (the quantile in the `+Inf` bucket is given as the last finite bound:
/// "at least"). `None` without fan-outs or with mismatched scrapes.
pub fn quantile_ms(before: &Buckets, after: &Buckets, q: f64) -> Option<(u64, f64)> {
    if before.len() != after.len() || after.is_empty() {
        return None;
    }
    let delta: Vec<(f64, u64)> = after
        .iter()
        .zip(before)
        .map(|(&(le, a), &(_, b))| (le, a.saturating_sub(b)))
        .collect();
    let total = delta.last()?.1;
    if total == 0 {
        return None;
    }
    let want = q * total as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for &(le, cumulative) in &delta {
        if cumulative as f64 >= want {
            if le.is_infinite() {
                return Some((total, lower * 1e3));
            }
            let in_bucket = (cumulative - below).max(1) as f64;
            let at = lower + (le - lower) * ((want - below as f64) / in_bucket);
            return Some((total, at * 1e3));
        }
        (lower, below) = (le, cumulative);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE huddle_media_fanout_seconds histogram
huddle_media_fanout_seconds_bucket{le=\"0.0001\"} 0
huddle_media_fanout_seconds_bucket{le=\"0.001\"} 90
huddle_media_fanout_seconds_bucket{le=\"0.002\"} 100
huddle_media_fanout_seconds_bucket{le=\"+Inf\"} 100
huddle_media_fanout_seconds_sum 0.05
huddle_media_fanout_seconds_count 100
huddle_media_packets_out_total 7
";

    #[test]
    fn the_buckets_are_read_and_the_quantile_interpolated_between_two_scrapes() {
        let after = parse(TEXT);
        assert_eq!(
            after,
            vec![(0.0001, 0), (0.001, 90), (0.002, 100), (f64::INFINITY, 100)]
        );
        let before: Buckets = after.iter().map(|&(le, _)| (le, 0)).collect();
        // The 99th of 100 is the 9th of the 10 in (1 ms, 2 ms].
        let (n, p99) = quantile_ms(&before, &after, 0.99).unwrap();
        assert_eq!(n, 100);
        assert!((p99 - 1.9).abs() < 1e-9, "{p99}");
        // The median is in (0.1 ms, 1 ms]: 50 of its 90.
        let (_, p50) = quantile_ms(&before, &after, 0.5).unwrap();
        assert!((p50 - (0.1 + 0.9 * 50.0 / 90.0)).abs() < 1e-9, "{p50}");
        // Nothing between two equal scrapes; scrapes that do not match give nothing.
        assert_eq!(quantile_ms(&after, &after, 0.99), None);
        assert_eq!(quantile_ms(&after[..2].to_vec(), &after, 0.99), None);
    }

    #[test]
    fn a_quantile_above_the_last_bound_is_given_as_that_bound() {
        let before = vec![(0.001, 0), (f64::INFINITY, 0)];
        let after = vec![(0.001, 1), (f64::INFINITY, 10)];
        assert_eq!(quantile_ms(&before, &after, 0.99), Some((10, 1.0)));
    }
}
