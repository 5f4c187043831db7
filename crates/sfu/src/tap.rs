//! Taps: frame subscribers on a source, next to its recorder.
//!
//! A tap gets every frame the source publishes, on the media thread, in order — the same
//! [`FrameSink`] interface as a recorder. RTMP play uses one per played stream: its sink
//! queues the frame into the RTMP side without blocking (huddle-rtmp's `LiveFeed`) and
//! returns. A sink must never block: it runs inside the media loop.

use crate::forward::Frame;
use crate::sfu::FrameSink;

/// Names one tap on a source (chosen by whoever adds it, unique per source).
pub type TapId = u64;

/// The taps of one source.
#[derive(Default)]
pub struct Taps {
    list: Vec<(TapId, Box<dyn FrameSink>)>,
}

impl Taps {
    /// Adds a tap; a tap with the same id is replaced (and closed).
    pub fn add(&mut self, id: TapId, sink: Box<dyn FrameSink>) {
        self.remove(id);
        self.list.push((id, sink));
    }

    /// Removes and closes a tap; false if there was none.
    pub fn remove(&mut self, id: TapId) -> bool {
        match self.list.iter().position(|(i, _)| *i == id) {
            Some(pos) => {
                let (_, mut sink) = self.list.swap_remove(pos);
                sink.close();
                true
            }
            None => false,
        }
    }

    /// Hands a frame to every tap.
    pub fn frame(&mut self, frame: &Frame) {
        for (_, sink) in &mut self.list {
            sink.frame(frame);
        }
    }

    /// Whether a tap needs a keyframe to go on ([`FrameSink::wants_keyframe`]).
    pub fn wants_keyframe(&self) -> bool {
        self.list.iter().any(|(_, sink)| sink.wants_keyframe())
    }

    /// The source is gone: closes every tap.
    pub fn close_all(&mut self) {
        for (_, mut sink) in self.list.drain(..) {
            sink.close();
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use str0m::media::{Frequency, MediaKind, MediaTime};

    use super::*;

    /// Records what it was given: (tap, rtp time) per frame, and closes.
    struct Probe {
        name: u64,
        log: Arc<Mutex<Vec<(u64, u64)>>>,
    }

    impl FrameSink for Probe {
        fn frame(&mut self, frame: &Frame) {
            self.log
                .lock()
                .unwrap()
                .push((self.name, frame.time.numer()));
        }
        fn close(&mut self) {
            self.log.lock().unwrap().push((self.name, u64::MAX));
        }
    }

    fn frame(ts: u64) -> Frame {
        Frame {
            kind: MediaKind::Video,
            time: MediaTime::new(ts, Frequency::NINETY_KHZ),
            network_time: Instant::now(),
            keyframe: false,
            data: Arc::from(&[1u8, 2, 3][..]),
        }
    }

    #[test]
    fn taps_get_frames_until_removed_and_are_closed_once() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let probe = |name| {
            Box::new(Probe {
                name,
                log: log.clone(),
            })
        };
        let mut taps = Taps::default();
        taps.add(1, probe(1));
        taps.add(2, probe(2));
        taps.frame(&frame(100));
        assert!(taps.remove(1));
        assert!(!taps.remove(1));
        taps.frame(&frame(200));
        taps.close_all();
        assert!(taps.is_empty());
        let mut got = log.lock().unwrap().clone();
        got.sort();
        assert_eq!(
            got,
            vec![(1, 100), (1, u64::MAX), (2, 100), (2, 200), (2, u64::MAX)]
        );
    }

    #[test]
    fn adding_an_existing_id_replaces_the_tap() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut taps = Taps::default();
        taps.add(
            7,
            Box::new(Probe {
                name: 1,
                log: log.clone(),
            }),
        );
        taps.add(
            7,
            Box::new(Probe {
                name: 2,
                log: log.clone(),
            }),
        );
        assert_eq!(taps.len(), 1);
        taps.frame(&frame(5));
        assert_eq!(*log.lock().unwrap(), vec![(1, u64::MAX), (2, 5)]);
    }
}
