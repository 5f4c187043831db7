//! The side-by-side section of the report: every server of the run (Huddle in both forwarding
//! modes, Janus, mediasoup) per scenario, on the figures issue 15 asks for: CPU per forwarded
//! packet, packets/s one core would forward, memory per subscription, video p99 added over the
//! no-server floor, loss, and Huddle's CPU ratio to each peer.

use std::fmt::Write as _;

use crate::report::{ratio, HUDDLE_RTP};
use crate::scenario::ScenarioResult;

/// Servers in the order of the table; rows missing from the run are skipped.
pub const SERVERS: [&str; 4] = ["huddle", HUDDLE_RTP, "janus", "mediasoup"];

fn f(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// Markdown section, or "" when the run has fewer than two of the servers.
pub fn section<'a>(
    order: &[String],
    find: impl Fn(&str, &str) -> Option<&'a ScenarioResult>,
) -> String {
    let present: Vec<&str> = SERVERS
        .into_iter()
        .filter(|s| order.iter().any(|sc| find(sc, s).is_some()))
        .collect();
    if present.len() < 2 {
        return String::new();
    }
    let mut md = String::new();
    let _ = writeln!(md, "\n## Side by side: {}\n", present.join(", "));
    let _ = writeln!(
        md,
        "Same run, same pinning (server on one core, load generator on the other). \
\"pkt/s per core\" = 10⁶ / CPU µs per packet (what one core would forward at 100 %). \
\"p99 over floor\" = video p99 minus the `direct` row's (the load generator talking to itself). \
CPU ratio = Huddle (frame mode; rtp mode in brackets) / that server, lower is better for Huddle.\n"
    );
    let _ = writeln!(
        md,
        "| scenario | server | CPU µs / pkt | pkt/s per core | KiB / sub | video p99 over floor ms | loss % | subs ok | Huddle CPU ratio | load avg |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for sc in order {
        let floor = find(sc, "direct").and_then(|d| d.lat_video_p99_ms);
        let huddle = find(sc, "huddle").and_then(|r| r.server_cpu_us_per_pkt);
        let huddle_rtp = find(sc, HUDDLE_RTP).and_then(|r| r.server_cpu_us_per_pkt);
        for server in &present {
            let Some(r) = find(sc, server) else { continue };
            let cpu = r.server_cpu_us_per_pkt;
            let per_core = cpu.filter(|c| *c > 0.0).map(|c| 1e6 / c);
            let over_floor = match (r.lat_video_p99_ms, floor) {
                (Some(p), Some(fl)) => Some(p - fl),
                _ => None,
            };
            let vs = if server.starts_with("huddle") {
                String::new()
            } else {
                format!(
                    "{} ({})",
                    f(ratio(huddle, cpu), 2),
                    f(ratio(huddle_rtp, cpu), 2)
                )
            };
            let _ = writeln!(
                md,
                "| {sc} | {server} | {} | {} | {} | {} | {:.3} | {}/{} | {vs} | {} |",
                f(cpu, 2),
                f(per_core, 0),
                f(r.server_kib_per_subscription, 1),
                f(over_floor, 2),
                r.loss_pct,
                r.subscribers_receiving,
                r.subscriptions,
                f(r.loadavg, 1),
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(server: &str, cpu: f64, p99: f64) -> ScenarioResult {
        ScenarioResult {
            server: server.into(),
            scenario: "fanout:10".into(),
            subscriptions: 10,
            subscribers_receiving: 10,
            server_cpu_us_per_pkt: Some(cpu),
            lat_video_p99_ms: Some(p99),
            ..Default::default()
        }
    }

    #[test]
    fn ratios_and_floor_per_server() {
        let rows = [
            row("huddle", 5.0, 3.0),
            row("janus", 20.0, 4.0),
            row("mediasoup", 10.0, 3.5),
            row("direct", 0.0, 2.5),
        ];
        let order = vec!["fanout:10".to_string()];
        let md = section(&order, |sc, s| {
            rows.iter().find(|r| r.scenario == sc && r.server == s)
        });
        assert!(md.contains("## Side by side: huddle, janus, mediasoup"));
        // Janus: 5 / 20 = 0.25, 1 ms over the floor, 50 000 pkt/s per core.
        assert!(md.contains(
            "| fanout:10 | janus | 20.00 | 50000 | – | 1.50 | 0.000 | 10/10 | 0.25 (–) |"
        ));
        assert!(md.contains("| fanout:10 | mediasoup | 10.00 | 100000 | – | 1.00 |"));
        assert!(md.contains("| fanout:10 | huddle | 5.00 | 200000 | – | 0.50 |"));
    }

    #[test]
    fn one_server_gives_no_section() {
        let rows = [row("huddle", 5.0, 3.0)];
        let order = vec!["fanout:10".to_string()];
        assert_eq!(
            section(&order, |_, s| rows.iter().find(|r| r.server == s)),
            ""
        );
    }
}
