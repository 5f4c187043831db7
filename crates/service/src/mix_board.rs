//! What the room mixes are doing, for the operator (`GET /admin/mixes`, the `/admin/` page):
//! each mix from the moment its room ended (waiting for a slot) through ffmpeg's progress to
//! done or failed. Memory only: a restart forgets finished mixes (the recordings list keeps
//! the files; unfinished jobs are resumed and show up again).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Finished mixes kept on the board (the oldest is forgotten first).
const KEEP_FINISHED: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MixState {
    /// The room ended; the mix waits for its files to close or for a free mix slot.
    Waiting,
    /// ffmpeg runs.
    Running,
    Done,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct MixEntry {
    /// Output file name inside the records folder (also the pending job's name).
    pub output: String,
    pub room: String,
    pub state: MixState,
    /// 0..=100, from ffmpeg's output position against the room's duration; 100 once done.
    pub percent: f64,
    /// Room duration (the mix's length); `None` until known (a room that never ended cleanly).
    pub duration_ms: Option<u64>,
    pub queued_unix_ms: u64,
    pub started_unix_ms: Option<u64>,
    pub finished_unix_ms: Option<u64>,
}

/// Shared by the recordings (writers) and the admin API (reader).
#[derive(Debug, Default)]
pub(crate) struct MixBoard {
    entries: Mutex<VecDeque<MixEntry>>,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl MixBoard {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Every mix on the board, in the order they were queued.
    pub(crate) fn snapshot(&self) -> Vec<MixEntry> {
        self.lock().iter().cloned().collect()
    }

    /// A room's mix is queued (again, if it was on the board before: a retried job starts over).
    pub(crate) fn waiting(&self, output: &str, room: &str, duration_ms: Option<u64>) {
        let mut entries = self.lock();
        entries.retain(|e| e.output != output);
        entries.push_back(MixEntry {
            output: output.to_string(),
            room: room.to_string(),
            state: MixState::Waiting,
            percent: 0.0,
            duration_ms,
            queued_unix_ms: now_unix_ms(),
            started_unix_ms: None,
            finished_unix_ms: None,
        });
        Self::forget_old(&mut entries);
    }

    /// ffmpeg starts on a room of `duration_ms`.
    pub(crate) fn running(&self, output: &str, duration_ms: u64) {
        self.update(output, |e| {
            e.state = MixState::Running;
            e.duration_ms = Some(duration_ms);
            e.started_unix_ms = Some(now_unix_ms());
        });
    }

    /// ffmpeg reached `fraction` (0..=1) of the room; the percentage never goes back.
    pub(crate) fn progress(&self, output: &str, fraction: f64) {
        let percent = (fraction.clamp(0.0, 1.0) * 1000.0).floor() / 10.0;
        self.update(output, |e| {
            if e.state == MixState::Running && percent > e.percent {
                e.percent = percent;
            }
        });
    }

    /// The mix is over: done (100 %) or failed (its last percentage kept).
    pub(crate) fn finished(&self, output: &str, ok: bool) {
        self.update(output, |e| {
            e.state = if ok { MixState::Done } else { MixState::Failed };
            if ok {
                e.percent = 100.0;
            }
            e.finished_unix_ms = Some(now_unix_ms());
        });
        Self::forget_old(&mut self.lock());
    }

    fn update(&self, output: &str, change: impl FnOnce(&mut MixEntry)) {
        if let Some(entry) = self.lock().iter_mut().find(|e| e.output == output) {
            change(entry);
        }
    }

    /// Drops the oldest finished entries beyond [`KEEP_FINISHED`]; unfinished ones always stay
    /// (they are bounded by the jobs on disk).
    fn forget_old(entries: &mut VecDeque<MixEntry>) {
        let finished = |e: &MixEntry| matches!(e.state, MixState::Done | MixState::Failed);
        let mut excess = entries
            .iter()
            .filter(|e| finished(e))
            .count()
            .saturating_sub(KEEP_FINISHED);
        entries.retain(|e| {
            if excess > 0 && finished(e) {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<MixEntry>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(board: &MixBoard, output: &str) -> MixEntry {
        board
            .snapshot()
            .into_iter()
            .find(|e| e.output == output)
            .unwrap()
    }

    #[test]
    fn a_mix_goes_from_waiting_to_done_and_its_percentage_only_rises() {
        let board = MixBoard::new();
        board.waiting("r.mkv", "r", Some(10_000));
        assert_eq!(state(&board, "r.mkv").state, MixState::Waiting);
        board.progress("r.mkv", 0.5);
        assert_eq!(state(&board, "r.mkv").percent, 0.0, "not running yet");
        board.running("r.mkv", 10_000);
        board.progress("r.mkv", 0.123_45);
        assert_eq!(state(&board, "r.mkv").percent, 12.3);
        board.progress("r.mkv", 0.1);
        assert_eq!(state(&board, "r.mkv").percent, 12.3, "never goes back");
        board.progress("r.mkv", 7.0);
        assert_eq!(state(&board, "r.mkv").percent, 100.0, "clamped");
        board.finished("r.mkv", true);
        let done = state(&board, "r.mkv");
        assert_eq!((done.state, done.percent), (MixState::Done, 100.0));
        assert!(done.finished_unix_ms >= done.started_unix_ms);
        let json = serde_json::to_value(&done).unwrap();
        assert_eq!(json["state"], "done");
        assert_eq!(json["duration_ms"], 10_000);
    }

    #[test]
    fn a_failed_mix_keeps_its_percentage_and_a_retry_starts_over() {
        let board = MixBoard::new();
        board.waiting("r.mkv", "r", None);
        board.running("r.mkv", 4_000);
        board.progress("r.mkv", 0.4);
        board.finished("r.mkv", false);
        let failed = state(&board, "r.mkv");
        assert_eq!((failed.state, failed.percent), (MixState::Failed, 40.0));
        board.waiting("r.mkv", "r", Some(4_000));
        assert_eq!(board.snapshot().len(), 1);
        assert_eq!(state(&board, "r.mkv").state, MixState::Waiting);
        assert_eq!(state(&board, "r.mkv").percent, 0.0);
    }

    #[test]
    fn old_finished_mixes_are_forgotten_unfinished_ones_stay() {
        let board = MixBoard::new();
        board.waiting("pending.mkv", "p", None);
        for i in 0..KEEP_FINISHED + 5 {
            let name = format!("{i}.mkv");
            board.waiting(&name, "r", Some(1));
            board.running(&name, 1);
            board.finished(&name, true);
        }
        let all = board.snapshot();
        assert_eq!(all.len(), KEEP_FINISHED + 1);
        assert_eq!(all[0].output, "pending.mkv");
        assert_eq!(all[1].output, "5.mkv", "the oldest five finished are gone");
        // Unknown names are ignored.
        board.progress("nope.mkv", 0.5);
        board.finished("nope.mkv", true);
        assert_eq!(board.snapshot().len(), KEEP_FINISHED + 1);
    }
}
