//! ffmpeg's machine-readable progress (`-progress pipe:1`): blocks of `key=value` lines, each
//! block closed by `progress=continue` (or `progress=end` for the last one). The mix reads the
//! output position of each block and turns it into a fraction of the room's known duration.
//!
//! ```text
//! frame=120
//! out_time_us=4000000
//! out_time=00:00:04.000000
//! speed=2.01x
//! progress=continue
//! ```
//!
//! Early blocks may carry `N/A` or a negative time (no output yet); those give no position.

/// One closed block of ffmpeg's progress output.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProgressReport {
    /// Output position reached, in microseconds; `None` while ffmpeg has written nothing yet.
    pub out_time_us: Option<u64>,
    /// Encoding speed as a multiple of real time (`speed=2.01x`), when known.
    pub speed: Option<f64>,
    /// The last block (`progress=end`): ffmpeg is finishing.
    pub end: bool,
}

impl ProgressReport {
    /// The fraction (0.0..=1.0) of a mix of `duration_ms` this block reached (0 before any
    /// output; a room of 0 ms counts as done).
    pub fn fraction_of(&self, duration_ms: u64) -> f64 {
        if duration_ms == 0 {
            return 1.0;
        }
        let us = self.out_time_us.unwrap_or(0) as f64;
        (us / (duration_ms as f64 * 1000.0)).clamp(0.0, 1.0)
    }
}

/// Reads ffmpeg's progress lines one at a time and hands back each block when it closes.
#[derive(Debug, Default)]
pub struct ProgressParser {
    block: ProgressReport,
}

impl ProgressParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (with or without its line end). Returns the block when this line closed
    /// it. Unknown keys and malformed lines are ignored: the stream is informational only.
    pub fn line(&mut self, line: &str) -> Option<ProgressReport> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        match key.trim() {
            // `out_time_ms` is microseconds too (a historical ffmpeg misnomer); prefer `_us`
            // but take either, whichever the version prints.
            "out_time_us" | "out_time_ms" => {
                if let Some(us) = parse_time_us(value) {
                    self.block.out_time_us = Some(us);
                }
            }
            "speed" => {
                self.block.speed = value
                    .strip_suffix('x')
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0);
            }
            "progress" => {
                self.block.end = value == "end";
                // A block that gave no position keeps the last one known (ffmpeg's position
                // never goes back).
                let done = self.block;
                self.block = ProgressReport {
                    out_time_us: done.out_time_us,
                    ..ProgressReport::default()
                };
                return Some(done);
            }
            _ => {}
        }
        None
    }
}

/// A microsecond count; `N/A` and negative values (no output yet) give `None`.
fn parse_time_us(value: &str) -> Option<u64> {
    value
        .parse::<i64>()
        .ok()
        .and_then(|v| u64::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(parser: &mut ProgressParser, text: &str) -> Vec<ProgressReport> {
        text.lines().filter_map(|l| parser.line(l)).collect()
    }

    #[test]
    fn blocks_give_positions_and_speed() {
        let mut p = ProgressParser::new();
        let reports = feed(
            &mut p,
            "frame=0\nfps=0.00\nbitrate=N/A\ntotal_size=N/A\nout_time_us=N/A\nout_time_ms=N/A\n\
             out_time=N/A\ndup_frames=0\ndrop_frames=0\nspeed=N/A\nprogress=continue\n\
             frame=60\nout_time_us=2000000\nout_time_ms=2000000\nout_time=00:00:02.000000\n\
             speed=1.98x\nprogress=continue\n\
             frame=300\nout_time_us=10000000\nspeed=2.5x\nprogress=end\n",
        );
        assert_eq!(reports.len(), 3);
        assert_eq!(
            reports[0],
            ProgressReport {
                out_time_us: None,
                speed: None,
                end: false
            }
        );
        assert_eq!(reports[1].out_time_us, Some(2_000_000));
        assert_eq!(reports[1].speed, Some(1.98));
        assert!(!reports[1].end);
        assert_eq!(reports[2].out_time_us, Some(10_000_000));
        assert!(reports[2].end);
        assert_eq!(reports[1].fraction_of(10_000), 0.2);
        assert_eq!(reports[2].fraction_of(10_000), 1.0);
        assert_eq!(reports[0].fraction_of(10_000), 0.0);
    }

    #[test]
    fn negative_and_garbled_times_give_no_position() {
        let mut p = ProgressParser::new();
        let r = feed(
            &mut p,
            "out_time_us=-9223372036854775807\nprogress=continue\nout_time_us=12x\r\nspeed=fast\nnonsense\n=\nprogress=continue\n",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].out_time_us, None);
        assert_eq!(r[1].out_time_us, None);
        assert_eq!(r[1].speed, None);
    }

    #[test]
    fn a_block_without_a_position_keeps_the_last_one() {
        let mut p = ProgressParser::new();
        let r = feed(
            &mut p,
            "out_time_us=3000000\r\nprogress=continue\r\nout_time_us=N/A\r\nprogress=continue\r\n",
        );
        assert_eq!(r[0].out_time_us, Some(3_000_000));
        assert_eq!(
            r[1].out_time_us,
            Some(3_000_000),
            "position never goes back"
        );
    }

    #[test]
    fn fractions_are_clamped() {
        let past_the_end = ProgressReport {
            out_time_us: Some(12_500_000),
            ..Default::default()
        };
        assert_eq!(past_the_end.fraction_of(10_000), 1.0);
        assert_eq!(past_the_end.fraction_of(0), 1.0, "an empty room is done");
        let quarter = ProgressReport {
            out_time_us: Some(2_500),
            ..Default::default()
        };
        assert_eq!(quarter.fraction_of(10), 0.25);
    }

    #[test]
    fn out_time_ms_is_read_as_microseconds() {
        let mut p = ProgressParser::new();
        let r = feed(&mut p, "out_time_ms=1500000\nprogress=continue\n");
        assert_eq!(r[0].out_time_us, Some(1_500_000));
    }
}
