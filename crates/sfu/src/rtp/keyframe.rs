//! Keyframe requests to a publisher in RTP mode (str0m has no `Writer` then).

use str0m::media::{KeyframeRequestKind, Mid, Rid};

use crate::peer::Peer;

/// Queues a PLI on the publisher's video receive stream, or of a simulcast publisher on the
/// receive stream of each of `layers` (empty: the stream without a rid); false if none of
/// them exists yet (no packet received). Always PLI: every browser negotiates it (FIR is
/// optional), and the publisher's keyframe gate already coalesced the requests.
pub fn request(publisher: &mut Peer, mid: Mid, layers: &[Rid]) -> bool {
    let mut api = publisher.rtc.direct_api();
    if layers.is_empty() {
        return pli(api.stream_rx_by_mid(mid, None));
    }
    let mut sent = false;
    for &rid in layers {
        sent |= pli(api.stream_rx_by_mid(mid, Some(rid)));
    }
    sent
}

fn pli(stream: Option<&mut str0m::rtp::StreamRx>) -> bool {
    let Some(stream) = stream else {
        return false;
    };
    stream.request_keyframe(KeyframeRequestKind::Pli);
    true
}
