//! `mix_finished` webhooks. The room mixer already reports every mix to the operator's board
//! ([`crate::mix_board`]); a slow poll of that board turns each mix that reached done or
//! failed into one event, so the mixer needs no second reporting path and the room actor is
//! not involved. A second of delay is nothing next to a mix's minutes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::lifecycle::Event;
use super::webhook::Webhooks;
use crate::mix_board::{MixBoard, MixEntry, MixState};

/// How often the board is read.
const POLL: Duration = Duration::from_secs(1);

/// Reads `board` until the server stops; sends `mix_finished` once per finished mix.
pub(crate) fn spawn(
    board: Arc<MixBoard>,
    webhooks: Arc<Webhooks>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut reported = HashSet::new();
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            for event in newly_finished(&mut reported, &board.snapshot()) {
                let at = match &event {
                    Event::MixFinished {
                        finished_unix_ms, ..
                    } => *finished_unix_ms,
                    _ => 0,
                };
                webhooks.send(&event, at);
            }
        }
    });
}

/// The mixes of `snapshot` that finished since the last call (`reported` remembers them, and
/// forgets those the board dropped).
pub(crate) fn newly_finished(reported: &mut HashSet<String>, snapshot: &[MixEntry]) -> Vec<Event> {
    reported.retain(|output| snapshot.iter().any(|e| &e.output == output));
    snapshot
        .iter()
        .filter(|e| matches!(e.state, MixState::Done | MixState::Failed))
        .filter(|e| reported.insert(e.output.clone()))
        .map(|e| Event::MixFinished {
            room: e.room.clone(),
            file: e.output.clone(),
            ok: e.state == MixState::Done,
            duration_ms: e.duration_ms,
            finished_unix_ms: e.finished_unix_ms.unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(output: &str, state: MixState) -> MixEntry {
        MixEntry {
            output: output.into(),
            room: "R".into(),
            state,
            percent: 0.0,
            duration_ms: Some(5000),
            queued_unix_ms: 1,
            started_unix_ms: None,
            finished_unix_ms: Some(9000),
        }
    }

    #[test]
    fn each_finished_mix_is_reported_once() {
        let mut reported = HashSet::new();
        let board = [
            entry("a.mkv", MixState::Running),
            entry("b.mkv", MixState::Waiting),
        ];
        assert!(newly_finished(&mut reported, &board).is_empty());
        let board = [
            entry("a.mkv", MixState::Done),
            entry("b.mkv", MixState::Failed),
        ];
        let events = newly_finished(&mut reported, &board);
        assert_eq!(
            events,
            [
                Event::MixFinished {
                    room: "R".into(),
                    file: "a.mkv".into(),
                    ok: true,
                    duration_ms: Some(5000),
                    finished_unix_ms: 9000
                },
                Event::MixFinished {
                    room: "R".into(),
                    file: "b.mkv".into(),
                    ok: false,
                    duration_ms: Some(5000),
                    finished_unix_ms: 9000
                }
            ]
        );
        assert!(newly_finished(&mut reported, &board).is_empty(), "once");
        // Forgotten by the board, then the same name mixed again: a new event.
        assert!(newly_finished(&mut reported, &board[1..]).is_empty());
        assert_eq!(newly_finished(&mut reported, &board).len(), 1);
    }
}
