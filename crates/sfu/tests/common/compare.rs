//! One comparison of what a client received with what was sent, for every kind and codec.

use super::assert_window;

/// `got` (frames of one kind, in arrival order) is a run of consecutive frames of `sent`,
/// byte-equal, at most `missing` frames short of all of them (frames before the first
/// keyframe a player gets, or lost for good).
pub fn assert_received(sent: &[Vec<u8>], got: &[&[u8]], missing: usize, what: &str) {
    println!("{what}: {} of {} frames", got.len(), sent.len());
    assert!(
        got.len() + missing >= sent.len(),
        "{what}: {} of {} frames (at most {missing} may be missing)",
        got.len(),
        sent.len()
    );
    assert_window(sent, got, what);
}
