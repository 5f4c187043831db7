//! The machine-floor section of the report: per scenario, what one core spends per packet when
//! it only seals and sends (`floor` rows, bench/src/floor.rs), each server's CPU per packet as a
//! multiple of it, and the floor as a share of Janus's figure — the lowest CPU ratio to Janus
//! that any server could show on this machine in this run.

use std::fmt::Write as _;

use crate::report::ratio;
use crate::report_side::SERVERS;
use crate::scenario::ScenarioResult;

/// Markdown section, or "" when the run has no `floor` row.
pub fn section<'a>(
    order: &[String],
    find: impl Fn(&str, &str) -> Option<&'a ScenarioResult>,
) -> String {
    let floors: Vec<(&String, &ScenarioResult)> = order
        .iter()
        .filter_map(|sc| Some((sc, find(sc, "floor")?)))
        .filter(|(_, r)| r.server_cpu_us_per_pkt.is_some())
        .collect();
    if floors.is_empty() {
        return String::new();
    }
    let mut md = String::new();
    let _ = writeln!(md, "\n## The machine's floor (same run)\n");
    let _ = writeln!(
        md,
        "Rows `floor`: one thread on the servers' core does only what every SFU must do per forwarded packet — \
its own RTP header per subscription, one AES-256-GCM seal under that subscription's key (str0m's SRTP cipher), \
one slot in a batched `sendmmsg` (UDP GSO for a frame's packets to one subscriber, as Huddle sends) — for the \
scenario's packets, to one loopback socket per subscription read by a thread on the load generator's core. \
No feedback, estimation, pacing or resends. On loopback the kernel delivers each datagram inside the sender's \
system call, so the floor carries that cost as every server's figure does. \"× floor\" = a server's CPU per \
packet / the floor's; \"floor / Janus\" is the lowest Huddle/Janus CPU ratio any server could reach here.\n"
    );
    for (sc, fl) in floors {
        let us = fl.server_cpu_us_per_pkt;
        let mut parts = Vec::new();
        for server in SERVERS {
            if let Some(x) = find(sc, server).and_then(|r| ratio(r.server_cpu_us_per_pkt, us)) {
                parts.push(format!("{server} {x:.2}×"));
            }
        }
        let vs_janus = find(sc, "janus")
            .and_then(|j| ratio(us, j.server_cpu_us_per_pkt))
            .map(|x| format!("; floor / Janus = **{x:.3}**"))
            .unwrap_or_default();
        let mut fanout = Vec::new();
        for (server, r) in
            std::iter::once(("floor", Some(fl))).chain(SERVERS.iter().map(|&s| (s, find(sc, s))))
        {
            if let Some(ms) = r.and_then(|r| r.server_fanout_p99_ms) {
                fanout.push(format!("{server} {ms:.2} ms"));
            }
        }
        let fanout = if fanout.len() > 1 {
            format!(
                " Fan-out p99 (a frame's end to the return of the `sendmmsg` with its last copy): {}.",
                fanout.join(", ")
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "- **{sc}**: floor {:.2} µs/pkt ({:.0} pkt/s delivered, loss {:.3}%); {}{vs_janus}.{fanout}",
            us.unwrap_or_default(),
            fl.rx_packets_per_s,
            fl.loss_pct,
            if parts.is_empty() {
                "no server row".to_string()
            } else {
                format!("× floor: {}", parts.join(", "))
            },
        );
    }
    md
}

/// For a scenario whose CPU goal is judged against Janus: what the goal means measured against
/// the floor of the same run ("" without a floor, Huddle or Janus row).
pub fn goal_note(
    huddle: Option<&ScenarioResult>,
    janus: Option<&ScenarioResult>,
    floor: Option<&ScenarioResult>,
    goal: f64,
) -> String {
    let us = |r: Option<&ScenarioResult>| r.and_then(|r| r.server_cpu_us_per_pkt);
    let (Some(h), Some(j), Some(f)) = (us(huddle), us(janus), us(floor)) else {
        return String::new();
    };
    format!(
        " The machine's floor here is {f:.2} µs/pkt = {:.3}× Janus: the ≤ {goal} goal asks for Huddle \
within {:.2}× the floor; it is at {:.2}×.",
        f / j,
        goal * j / f,
        h / f
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::HUDDLE_RTP;

    fn row(server: &str, cpu: f64) -> ScenarioResult {
        ScenarioResult {
            server: server.into(),
            scenario: "fanout:100".into(),
            server_cpu_us_per_pkt: Some(cpu),
            ..Default::default()
        }
    }

    #[test]
    fn each_server_is_set_against_the_floor_and_the_floor_against_janus() {
        let rows = [row("floor", 3.0), row(HUDDLE_RTP, 6.0), row("janus", 24.0)];
        let order = vec!["fanout:100".to_string()];
        let md = section(&order, |sc, s| {
            rows.iter().find(|r| r.scenario == sc && r.server == s)
        });
        assert!(md.contains("floor 3.00 µs/pkt"), "{md}");
        assert!(md.contains("huddle-rtp 2.00×"), "{md}");
        assert!(md.contains("janus 8.00×"), "{md}");
        assert!(md.contains("floor / Janus = **0.125**"), "{md}");
        assert!(
            !md.contains("Fan-out"),
            "no fan-out times, no sentence: {md}"
        );
    }

    #[test]
    fn fan_out_times_are_set_beside_the_floors() {
        let fan = |server, cpu, ms| ScenarioResult {
            server_fanout_p99_ms: Some(ms),
            ..row(server, cpu)
        };
        let rows = [
            fan("floor", 3.0, 0.4),
            fan(HUDDLE_RTP, 6.0, 0.9),
            row("janus", 24.0),
        ];
        let order = vec!["fanout:100".to_string()];
        let md = section(&order, |sc, s| {
            rows.iter().find(|r| r.scenario == sc && r.server == s)
        });
        assert!(
            md.contains("its last copy): floor 0.40 ms, huddle-rtp 0.90 ms."),
            "{md}"
        );
    }

    #[test]
    fn the_goal_is_restated_against_the_floor() {
        let (f, h, j) = (row("floor", 3.0), row(HUDDLE_RTP, 6.0), row("janus", 24.0));
        let s = goal_note(Some(&h), Some(&j), Some(&f), 0.15);
        assert!(s.contains("3.00 µs/pkt = 0.125× Janus"), "{s}");
        assert!(s.contains("within 1.20× the floor; it is at 2.00×"), "{s}");
        assert_eq!(goal_note(Some(&h), Some(&j), None, 0.15), "");
    }

    #[test]
    fn no_floor_row_no_section() {
        let rows = [row(HUDDLE_RTP, 6.0)];
        let md = section(&["fanout:100".to_string()], |sc, s| {
            rows.iter().find(|r| r.scenario == sc && r.server == s)
        });
        assert_eq!(md, "");
    }
}
