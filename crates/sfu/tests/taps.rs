//! Taps (frame subscribers beside the recorder: restream inputs, RTMP players) and keyframes:
//! a tap that needs one ([`FrameSink::wants_keyframe`]: it dropped video, or its writer waits
//! for a start) gets the publisher asked through the keyframe gate, again each gate interval
//! while the wish lasts (a request can be lost, or ignored by the browser), and no more once it
//! is answered. Sans-IO, both forwarding modes.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::world::World;
use huddle_room::PeerId;
use huddle_sfu::{Forwarding, Frame, FrameSink};
use str0m::format::Codec;
use str0m::media::MediaKind;

/// A tap whose keyframe wish the test sets; a keyframe handed to it answers the wish.
struct Wish(Arc<AtomicBool>);

impl FrameSink for Wish {
    fn frame(&mut self, frame: &Frame) {
        if frame.kind.is_video() && frame.keyframe {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    fn close(&mut self) {}
    fn wants_keyframe(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn a_taps_keyframe_wish_is_asked_each_gate_interval_until_answered(mode: Forwarding) {
    let mut w = World::with_forwarding(mode);
    let publisher = PeerId(1);
    w.publish(publisher, &[Codec::Vp8], &[MediaKind::Video]);
    let mut next = 0;
    w.vp8_frames(&mut next, 25, true);
    let wish = Arc::new(AtomicBool::new(false));
    let now = w.now;
    w.sfu.tap(publisher, 7, Box::new(Wish(wish.clone())), now);
    w.step();
    let requests = |w: &World| w.clients[0].keyframe_requests.len();
    let after_tap = requests(&w);
    assert!(after_tap >= 1, "adding a tap asks for a keyframe");
    // No wish: 3 s of delta frames, no request.
    w.vp8_frames(&mut next, 75, false);
    assert_eq!(requests(&w), after_tap, "{mode}: no wish, no request");
    // A wish the publisher ignores (it sends delta frames only): asked once per second.
    wish.store(true, Ordering::SeqCst);
    w.vp8_frames(&mut next, 88, false); // 3.5 s
    let asked = requests(&w) - after_tap;
    println!("{mode} mode: {asked} keyframe requests in 3.5 s of an unanswered wish");
    assert!(
        (3..=4).contains(&asked),
        "{mode}: asked {asked} times in 3.5 s, want 3-4"
    );
    // Answered: the keyframe reaches the tap, the wish ends, no more requests.
    w.vp8_frames(&mut next, 1, true);
    assert!(
        !wish.load(Ordering::SeqCst),
        "{mode}: the tap got the keyframe"
    );
    let answered = requests(&w);
    w.vp8_frames(&mut next, 75, false);
    assert!(
        requests(&w) <= answered + 1,
        "{mode}: at most the one already pending after the answer: {} -> {}",
        answered,
        requests(&w)
    );
}

in_both_modes!(a_taps_keyframe_wish_is_asked_each_gate_interval_until_answered);
