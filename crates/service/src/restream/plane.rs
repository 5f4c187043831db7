//! The media plane as the restream uses it: taps on publishers' sources.

use std::sync::Arc;

use huddle_sfu::{FrameSink, TapId};

use super::LiveStream;
use crate::media::MediaPlane;
use crate::rtmp_play::TapPlane;

/// Adds and removes taps on a room's publishers.
pub trait RestreamPlane: Send + Sync {
    /// Adds `sink` as tap `id` on the stream's source; it gets every frame from the next
    /// keyframe on (the plane asks the publisher for one). Replaces a tap with the same id.
    fn tap(&self, stream: &LiveStream, id: TapId, sink: Box<dyn FrameSink>) -> Result<(), String>;
    /// Removes (and closes) the tap.
    fn untap(&self, stream: &LiveStream, id: TapId);
}

/// Any RTMP-play plane (taps by stream name) serves the restream too.
impl<T: TapPlane + Send + Sync> RestreamPlane for T {
    fn tap(&self, stream: &LiveStream, id: TapId, sink: Box<dyn FrameSink>) -> Result<(), String> {
        TapPlane::tap(self, &stream.name, id, sink)
    }

    fn untap(&self, stream: &LiveStream, id: TapId) {
        TapPlane::untap(self, &stream.name, id)
    }
}

/// Taps through the server's media plane, by the publisher's media peer.
pub struct MediaTaps {
    media: Arc<dyn MediaPlane>,
}

impl MediaTaps {
    pub fn new(media: Arc<dyn MediaPlane>) -> MediaTaps {
        MediaTaps { media }
    }
}

impl RestreamPlane for MediaTaps {
    /// The plane asks the publisher for a keyframe; an unknown source closes the sink (the
    /// writer then sees no frames and the run's watchdog restarts it).
    fn tap(&self, stream: &LiveStream, id: TapId, sink: Box<dyn FrameSink>) -> Result<(), String> {
        self.media.tap(stream.peer, id, sink);
        Ok(())
    }

    fn untap(&self, stream: &LiveStream, id: TapId) {
        self.media.untap(stream.peer, id);
    }
}
