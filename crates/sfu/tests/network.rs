//! The SFU on impaired links, deterministic: str0m clients behind simulated access links
//! (rate limit with a bounded queue, loss, delay) in simulated time. Each test prints the
//! figures it measured.

use crate::common;

use std::time::{Duration, Instant};

use common::lab::{Lab, Source};
use common::Client;
use huddle_room::{MediaCommand, PeerId};
use huddle_sfu::{Forwarding, PeerQuality};
use str0m::format::Codec;
use str0m::media::MediaKind;
use str0m::Rtc;

const AV: &[MediaKind] = &[MediaKind::Audio, MediaKind::Video];
const VP8_OPUS: &[Codec] = &[Codec::Opus, Codec::Vp8];

/// The frame index our synthetic VP8 frames carry (see common::video_frame).
fn video_index(frame: &[u8]) -> u32 {
    let at = if frame[0] & 1 == 0 { 10 } else { 3 };
    u32::from_be_bytes(frame[at..at + 4].try_into().unwrap())
}

fn audio_index(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[..4].try_into().unwrap())
}

/// Frames of `kind` a client received at or after `since`: (index, keyframe).
fn received_since(c: &Client, kind: MediaKind, since: Instant) -> Vec<(u32, bool)> {
    c.received
        .iter()
        .zip(&c.received_at)
        .filter(|((k, _, _), t)| *k == kind && **t >= since)
        .map(|((_, d, key), _)| {
            let i = match kind {
                MediaKind::Video => video_index(d),
                MediaKind::Audio => audio_index(d),
            };
            (i, *key)
        })
        .collect()
}

fn row(lab: &Lab, peer: PeerId) -> PeerQuality {
    lab.sfu
        .peer_stats()
        .into_iter()
        .find(|q| q.peer == peer)
        .expect("a stats row per peer")
}

/// `LAB_LOG=<filter>` (e.g. `str0m::bwe::probe=trace,huddle_sfu::bandwidth=debug`): the
/// SFU's and str0m's log lines of a run, to see what the estimator and its probes did.
fn init_log() {
    if let Ok(filter) = std::env::var("LAB_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Runs the lab for `d`, the source writing its frames, `each` called every step.
fn run(lab: &mut Lab, src: &mut Source, d: Duration, mut each: impl FnMut(&mut Lab)) {
    let end = lab.now + d;
    while lab.now < end {
        src.run(lab);
        each(lab);
        lab.pump();
        lab.tick();
    }
}

in_both_modes!(slow_player_is_paused_keeps_audio_and_resumes_with_a_keyframe);

/// A player whose downlink drops to 300 kbit/s gets its video paused, keeps its audio, does
/// not make the publisher send keyframes for everyone, and gets video back (starting with a
/// keyframe) once the link recovers. The other player does not notice.
///
/// In both forwarding modes: in RTP mode B's packets leave through str0m's send lane (vendored
/// patch 35) while C's pacer holds its queue back on the slow link (the lane declines there).
fn slow_player_is_paused_keeps_audio_and_resumes_with_a_keyframe(mode: Forwarding) {
    init_log();
    let mut lab = Lab::new();
    lab.sfu.set_forwarding(mode);
    let (a, b, c) = (PeerId(1), PeerId(2), PeerId(3));
    let pa = lab.publish(a, VP8_OPUS, AV);
    let mut src = Source::new(pa, 4000, lab.now); // about 1 Mbit/s of video
    let nb = lab.play(b, a);
    let nc = lab.play(c, a);
    run(&mut lab, &mut src, Duration::from_secs(4), |_| {});
    assert!(!row(&lab, c).video_paused, "a fine link is not paused");
    let estimate = row(&lab, c)
        .estimate_bps
        .expect("an estimate on a fine link");
    println!("estimate on a fine link: {} kbit/s", estimate / 1000);

    // C's downlink drops to 300 kbit/s with a 200 ms router queue. C's decoder complains
    // (a PLI every 250 ms), as Chrome's does when frames go missing.
    lab.nodes[nc].down.rate_bps = Some(300_000);
    lab.nodes[nc].down.queue_limit = Duration::from_millis(200);
    let throttled_at = lab.now;
    let keyframes_before = src.keyframes;
    let video_before = src.vi;
    let mut paused_at = None;
    let mut next_pli = lab.now;
    run(&mut lab, &mut src, Duration::from_secs(12), |lab| {
        if lab.now >= next_pli {
            let now = lab.now;
            lab.nodes[nc].client.request_keyframe(now);
            next_pli = now + Duration::from_millis(250);
        }
        if paused_at.is_none() && row(lab, c).video_paused {
            paused_at = Some(lab.now);
        }
    });
    let paused_at = paused_at.expect("C's video was paused");
    let q = row(&lab, c);
    println!(
        "paused {:?} after the drop; estimate then {} kbit/s; {} video frames dropped",
        paused_at - throttled_at,
        q.estimate_bps.unwrap_or(0) / 1000,
        q.video_frames_dropped
    );
    assert!(q.video_paused, "still paused while the link is slow");
    assert!(paused_at - throttled_at <= Duration::from_secs(6));

    // Audio keeps flowing to C once its video is paused.
    let window = paused_at + Duration::from_secs(1);
    let audio: Vec<u32> = received_since(&lab.nodes[nc].client, MediaKind::Audio, window)
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let expected = ((lab.now - window).as_millis() / 20) as usize;
    println!("C audio while paused: {} of ~{expected}", audio.len());
    assert!(
        audio.len() * 100 >= expected * 95,
        "{} of {expected}",
        audio.len()
    );

    // B did not notice: nearly every video frame, and C's PLIs made (almost) no keyframes.
    let b_video = received_since(&lab.nodes[nb].client, MediaKind::Video, throttled_at).len();
    let sent = (src.vi - video_before) as usize;
    let extra_keyframes = src.keyframes - keyframes_before;
    println!("B video during the slow period: {b_video} of {sent}; publisher keyframes: {extra_keyframes} in 12 s");
    assert!(b_video * 100 >= sent * 97, "{b_video} of {sent}");
    assert!(
        extra_keyframes <= 2,
        "{extra_keyframes} keyframes in 12 s (at most one per 5 s)"
    );

    // The link recovers: C gets video again, starting with a keyframe.
    lab.nodes[nc].down.rate_bps = None;
    let lifted = lab.now;
    let mut resumed_after = None;
    let mut next_print = lab.now;
    run(&mut lab, &mut src, Duration::from_secs(8), |lab| {
        // LAB_TRACE=1: the estimate every 250 ms of simulated time after the lift.
        if std::env::var_os("LAB_TRACE").is_some() && lab.now >= next_print {
            let q = row(lab, c);
            println!(
                "{:?} after the lift: estimate {} kbit/s, paused {}",
                lab.now - lifted,
                q.estimate_bps.unwrap_or(0) / 1000,
                q.video_paused
            );
            next_print = lab.now + Duration::from_millis(250);
        }
        if resumed_after.is_none()
            && !received_since(&lab.nodes[nc].client, MediaKind::Video, lifted).is_empty()
        {
            resumed_after = Some(lab.now - lifted);
        }
    });
    let resumed_after = resumed_after.expect("C's video came back");
    let video = received_since(&lab.nodes[nc].client, MediaKind::Video, lifted);
    println!(
        "C's picture back {resumed_after:?} after the link recovered ({} frames since)",
        video.len()
    );
    assert!(video[0].1, "the first frame after the pause is a keyframe");
    assert!(!row(&lab, c).video_paused);
    // Issue 11: a picture within 3 s after the limit is lifted. While paused the estimator
    // restarts every second from a third of the need, and its initial probes find the
    // recovered link (bandwidth.rs paused_probe_due); left to itself it climbed back from
    // ~250 kbit/s in about 5 s here.
    assert!(resumed_after <= Duration::from_secs(3), "{resumed_after:?}");
    assert!(row(&lab, c).video_pauses >= 1);
}

/// A link just below what the stream needs (a probe can measure it near the need): the
/// player may try to resume, but a resume that congests the link pauses again quickly and the
/// pauses grow longer, so the publisher encodes at most one extra keyframe per 5 s and the
/// player's audio goes on.
#[test]
fn a_player_on_a_link_just_too_slow_does_not_flap() {
    let r = slow_link_call(Duration::from_secs(4), Some(Duration::from_millis(250)));
    r.print("just too slow");
    assert!(r.q.video_pauses >= 1, "the player was paused");
    r.assert_no_keyframe_storm();
    // 1425 of ~1500 (95.0 %) while the pause waited for the averaged estimate; 1457 (97.1 %)
    // since heavy loss with a low current estimate pauses sooner (bandwidth.rs).
    r.assert_audio_at_least(95);
}

/// The same link, slow from the player's first packet: the player never sees it empty, so
/// its lowest round trip already holds the full queue and cannot veto an estimator restart
/// (headroom.rs). A restart that does not hold must not be tried again every 2 s: that kept
/// the netlab's slow player unpaused and its link flooded for the whole call. And the flood
/// before the first pause must be short: the averaged estimate starts from 1.5 Mbit/s and
/// took 6.9 s to pause the player, while half the audio was dropped in the link's queue;
/// heavy loss with a low current estimate pauses it in 1.5 s (bandwidth.rs CONGESTION_LOSS).
#[test]
fn a_player_slow_from_its_start_is_not_restarted_again_and_again() {
    let r = slow_link_call(Duration::ZERO, None);
    r.print("slow from the start");
    assert!(
        r.q.estimator_restarts <= 3,
        "{} estimator restarts in 30 s",
        r.q.estimator_restarts
    );
    r.assert_no_keyframe_storm();
    // Before the back-off: 674 of ~1500 (the link flooded all call); with it 1320-1351 (88-90 %,
    // paused after 6.9 s); paused on heavy loss 1465-1471 (98 %).
    r.assert_audio_at_least(95);
}

/// What the player of a just-too-slow link got in 30 s.
struct SlowLink {
    q: PeerQuality,
    /// The publisher's keyframes in the 30 s.
    keyframes: u32,
    /// Audio packets the player received in the 30 s, and about how many were sent.
    audio: usize,
    expected_audio: usize,
}

impl SlowLink {
    fn print(&self, link: &str) {
        println!(
            "30 s on a link {link}: {} pauses, paused now {}, {} estimator restarts, publisher keyframes {}, audio {} of ~{}",
            self.q.video_pauses,
            self.q.video_paused,
            self.q.estimator_restarts,
            self.keyframes,
            self.audio,
            self.expected_audio
        );
    }

    /// The publisher encoded at most one extra keyframe per 5 s (issue 11).
    fn assert_no_keyframe_storm(&self) {
        assert!(
            self.keyframes <= 1 + 30 / 5,
            "{} keyframes in 30 s",
            self.keyframes
        );
    }

    fn assert_audio_at_least(&self, percent: usize) {
        assert!(
            self.audio * 100 >= self.expected_audio * percent,
            "{} of {}",
            self.audio,
            self.expected_audio
        );
    }
}

/// A publishes about 310 kbit/s of video; C plays it on a fast link for `fast_for` (zero:
/// not at all), then 30 s behind 300 kbit/s with a 200 ms queue, asking for a keyframe every
/// `pli_every` if set.
fn slow_link_call(fast_for: Duration, pli_every: Option<Duration>) -> SlowLink {
    init_log();
    let mut lab = Lab::new();
    let (a, c) = (PeerId(1), PeerId(3));
    let pa = lab.publish(a, VP8_OPUS, AV);
    let mut src = Source::new(pa, 1300, lab.now);
    let nc = lab.play(c, a);
    if !fast_for.is_zero() {
        run(&mut lab, &mut src, fast_for, |_| {});
    }
    lab.nodes[nc].down.rate_bps = Some(300_000);
    lab.nodes[nc].down.queue_limit = Duration::from_millis(200);
    let throttled_at = lab.now;
    let keyframes_before = src.keyframes;
    let mut next_pli = lab.now;
    let trace = std::env::var_os("LAB_TRACE").is_some();
    let (mut next_print, mut audio_before) = (lab.now, 0);
    run(&mut lab, &mut src, Duration::from_secs(30), |lab| {
        // LAB_TRACE=1: what the player's signals said every 250 ms of simulated time. Reading
        // the stats rolls the server's rate meters at other times, so a traced run's figures
        // differ a little (session 13, before the heavy-loss pause: 1320 vs 1351 audio).
        if trace && lab.now >= next_print {
            let q = row(lab, c);
            let audio = received_since(&lab.nodes[nc].client, MediaKind::Audio, throttled_at).len();
            println!(
                "{:>5} ms: estimate {} kbit/s, paused {}, out {} kbit/s, loss_out {:?}, rtt {:?} ms, audio +{}",
                (lab.now - throttled_at).as_millis(),
                q.estimate_bps.unwrap_or(0) / 1000,
                q.video_paused,
                q.bitrate_out_bps / 1000,
                q.loss_out,
                q.rtt_ms.map(|r| r as u64),
                audio - audio_before
            );
            audio_before = audio;
            next_print = lab.now + Duration::from_millis(250);
        }
        if let Some(every) = pli_every {
            if lab.now >= next_pli {
                let now = lab.now;
                lab.nodes[nc].client.request_keyframe(now);
                next_pli = now + every;
            }
        }
    });
    SlowLink {
        q: row(&lab, c),
        keyframes: src.keyframes - keyframes_before,
        audio: received_since(&lab.nodes[nc].client, MediaKind::Audio, throttled_at).len(),
        expected_audio: ((lab.now - throttled_at).as_millis() / 20) as usize,
    }
}

/// Many players asking for a keyframe at once (PLIs, joins) make one request to the
/// publisher per second, not one each.
#[test]
fn keyframe_requests_are_coalesced_per_publisher() {
    let mut lab = Lab::new();
    let a = PeerId(1);
    let pa = lab.publish(a, VP8_OPUS, AV);
    let mut src = Source::new(pa, 1500, lab.now);
    let joins_from = lab.now;
    let players: Vec<usize> = (0..6).map(|i| lab.play(PeerId(10 + i), a)).collect();
    let join_time = lab.now - joins_from;
    run(&mut lab, &mut src, Duration::from_secs(3), |_| {});
    let after_joins = lab.nodes[pa].client.keyframe_requests.len();
    println!("6 joins in {join_time:?}: {after_joins} keyframe requests to the publisher");
    assert!(after_joins as u128 <= join_time.as_millis() / 1000 + 2);
    for &p in &players {
        assert!(
            !received_since(&lab.nodes[p].client, MediaKind::Video, joins_from).is_empty(),
            "every joiner got video"
        );
    }

    // All six players send a PLI at the same moment, then again 300 ms later.
    let before = lab.nodes[pa].client.keyframe_requests.len();
    let stats_before = lab.sfu.stats();
    for round in 0..2 {
        let now = lab.now;
        for &p in &players {
            lab.nodes[p].client.request_keyframe(now);
        }
        run(&mut lab, &mut src, Duration::from_millis(300), |_| {});
        let _ = round;
    }
    run(&mut lab, &mut src, Duration::from_secs(2), |_| {});
    let storm = lab.nodes[pa].client.keyframe_requests.len() - before;
    let st = lab.sfu.stats();
    println!(
        "12 PLIs in 300 ms -> {storm} requests to the publisher (asked {}, sent {})",
        st.keyframe_requests_asked - stats_before.keyframe_requests_asked,
        st.keyframe_requests_sent - stats_before.keyframe_requests_sent
    );
    assert!(storm >= 1, "the PLIs were relayed");
    assert!(storm <= 2, "{storm} requests for 12 PLIs within 300 ms");
}

/// 5 % loss on the publisher's uplink and on a player's downlink: the SFU NACKs the
/// publisher, resends to the player, and RED protects the audio of a player that offers it.
#[test]
fn loss_is_recovered_end_to_end_and_red_protects_audio() {
    let mut lab = Lab::new();
    let a = PeerId(1);
    let pa = lab.publish(a, VP8_OPUS, AV);
    let answer = lab.answer_for(a).unwrap();
    assert!(
        answer.contains("useinbandfec=1"),
        "the publisher is asked for Opus in-band FEC:\n{answer}"
    );
    let mut src = Source::new(pa, 3000, lab.now);
    let red_client = {
        let cfg = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, true)
            .enable_vp8(true);
        Client::player_from(lab.next_addr(), cfg, lab.now)
    };
    let (with_red, without_red) = (PeerId(2), PeerId(3));
    let nr = lab.play_with(with_red, a, red_client);
    let play_answer = lab.answer_for(with_red).unwrap();
    assert!(
        play_answer.contains("red/48000/2"),
        "RED offered back:\n{play_answer}"
    );
    let np = lab.play(without_red, a);
    let plain_answer = lab.answer_for(without_red).unwrap();
    assert!(
        !plain_answer.contains("red/48000"),
        "no RED for a player that did not offer it"
    );
    run(&mut lab, &mut src, Duration::from_secs(1), |_| {});

    for n in [pa, nr, np] {
        lab.nodes[n].up.delay = Duration::from_millis(30);
        lab.nodes[n].down.delay = Duration::from_millis(30);
    }
    let count = |lab: &Lab, node: usize, kind: MediaKind, lo: u32, hi: u32| {
        let mut idx: Vec<u32> = lab.nodes[node]
            .client
            .received
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, d, _)| match kind {
                MediaKind::Video => video_index(d),
                MediaKind::Audio => audio_index(d),
            })
            .filter(|i| (lo..hi).contains(i))
            .collect();
        idx.sort();
        idx.dedup();
        idx.len()
    };

    // Phase 1: 5 % loss on the publisher's uplink. Video is recovered by our NACKs.
    lab.nodes[pa].up.loss = 0.05;
    let v0 = src.vi;
    run(&mut lab, &mut src, Duration::from_secs(8), |_| {});
    lab.nodes[pa].up.loss = 0.0;
    let v1 = src.vi;
    run(&mut lab, &mut src, Duration::from_millis(500), |_| {});
    let sent = (v1 - v0) as usize;
    let got = count(&lab, nr, MediaKind::Video, v0, v1);
    let pq = row(&lab, a);
    println!(
        "5% uplink loss, 60 ms RTT: player video {got}/{sent}; NACKs to the publisher {}",
        pq.nacks_out
    );
    assert!(
        pq.nacks_out > 0,
        "the SFU NACKed the publisher's lost packets"
    );
    assert!(got * 100 >= sent * 97, "video {got} of {sent}");

    // Phase 2: 5 % loss on both players' downlinks. Video by RTX, audio by RED where offered.
    lab.nodes[nr].down.loss = 0.05;
    lab.nodes[np].down.loss = 0.05;
    let (v0, a0) = (src.vi, src.ai);
    run(&mut lab, &mut src, Duration::from_secs(10), |_| {});
    lab.nodes[nr].down.loss = 0.0;
    lab.nodes[np].down.loss = 0.0;
    let (v1, a1) = (src.vi, src.ai);
    run(&mut lab, &mut src, Duration::from_millis(500), |_| {});
    let sent_video = (v1 - v0) as usize;
    let sent_audio = (a1 - a0) as usize;
    let video_r = count(&lab, nr, MediaKind::Video, v0, v1);
    let audio_r = count(&lab, nr, MediaKind::Audio, a0, a1);
    let audio_p = count(&lab, np, MediaKind::Audio, a0, a1);
    let rq = row(&lab, with_red);
    println!(
        "5% downlink loss, 60 ms RTT: video {video_r}/{sent_video}; audio lost with RED {:.1}%, without {:.1}%; NACKs from the player {}",
        100.0 - audio_r as f64 * 100.0 / sent_audio as f64,
        100.0 - audio_p as f64 * 100.0 / sent_audio as f64,
        rq.nacks_in
    );
    assert!(rq.nacks_in > 0, "the player's NACKs reached the SFU");
    assert!(
        video_r * 100 >= sent_video * 97,
        "video {video_r} of {sent_video}"
    );
    // Audio has no NACK: ~5 % lost without RED; RED recovers single losses.
    assert!(
        audio_r * 1000 >= sent_audio * 990,
        "audio with RED {audio_r} of {sent_audio}"
    );
    assert!(
        audio_r > audio_p,
        "RED made a difference ({audio_r} vs {audio_p})"
    );

    // The quality table shows what happened.
    assert!(rq.rtt_ms.is_some_and(|r| r > 20.0), "{rq:?}");
    assert!(rq.bitrate_out_bps > 100_000, "{rq:?}");
    assert!(rq.estimate_bps.is_some(), "{rq:?}");
    assert!(pq.bitrate_in_bps > 100_000, "{pq:?}");
    assert!(pq.loss_in.is_some(), "{pq:?}");
}

/// A browser whose ICE never arrives is failed after the connect timeout (10 s) with an ICE
/// reason; one that closes its connection is failed within the 2 s grace.
#[test]
fn failures_are_reported_fast_with_a_reason() {
    let mut lab = Lab::new();
    let a = PeerId(1);
    let pa = lab.publish_start(a, VP8_OPUS, AV);
    lab.nodes[pa].up.loss = 1.0; // nothing from the browser reaches us
    let waited = lab.run_until(Duration::from_secs(15), |l| l.failed(a).is_some());
    println!("no ICE: failed after {waited:?}: {:?}", lab.failed(a));
    assert_eq!(lab.failed(a).as_deref(), Some("Failed by ICE timeout"));
    assert!(waited >= Duration::from_secs(10) && waited <= Duration::from_millis(10_600));
    lab.command(MediaCommand::Close { peer: a });

    let b = PeerId(2);
    let pb = lab.publish(b, VP8_OPUS, AV);
    let mut src = Source::new(pb, 1500, lab.now);
    let p = PeerId(3);
    let np = lab.play(p, b);
    run(&mut lab, &mut src, Duration::from_secs(1), |_| {});
    // The browser closes its peer connection (DTLS close_notify, RTCP BYE).
    let now = lab.now;
    lab.nodes[np].client.rtc.close().expect("client close");
    lab.nodes[np].client.poll(now);
    let start = lab.now;
    let mut failed_after = None;
    run(&mut lab, &mut src, Duration::from_secs(5), |l| {
        if failed_after.is_none() && l.failed(p).is_some() {
            failed_after = Some(l.now - start);
        }
    });
    let failed_after = failed_after.expect("the closed player failed");
    println!(
        "closed player failed after {failed_after:?}: {:?}",
        lab.failed(p)
    );
    assert_eq!(
        lab.failed(p).as_deref(),
        Some("Peer connection closed by remote")
    );
    assert!(failed_after <= Duration::from_millis(2600));
    assert!(lab.failed(b).is_none(), "the publisher is fine");
}
