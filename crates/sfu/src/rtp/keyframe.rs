//! Keyframe requests to a publisher in RTP mode (str0m has no `Writer` then).

use str0m::media::{KeyframeRequestKind, Mid};

use crate::peer::Peer;

/// Queues a PLI on the publisher's video receive stream; false if it has none yet (no
/// packet received). Always PLI: every browser negotiates it (FIR is optional), and the
/// publisher's keyframe gate already coalesced the requests.
pub fn request(publisher: &mut Peer, mid: Mid) -> bool {
    let mut api = publisher.rtc.direct_api();
    let Some(stream) = api.stream_rx_by_mid(mid, None) else {
        return false;
    };
    stream.request_keyframe(KeyframeRequestKind::Pli);
    true
}
