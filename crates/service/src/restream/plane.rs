//! The media plane as the restream uses it: taps on publishers' sources.

use std::sync::Arc;

use huddle_sfu::{FrameSink, TapId};

use crate::media::MediaPlane;
use crate::rtmp_play::TapPlane;

/// Taps through the server's media plane.
pub struct MediaTaps {
    media: Arc<dyn MediaPlane>,
}

impl MediaTaps {
    pub fn new(media: Arc<dyn MediaPlane>) -> MediaTaps {
        MediaTaps { media }
    }
}

impl TapPlane for MediaTaps {
    fn tap(&self, source: &str, _id: TapId, _sink: Box<dyn FrameSink>) -> Result<(), String> {
        let _ = &self.media;
        Err(format!(
            "cannot tap {source}: the media plane does not offer taps yet"
        ))
    }

    fn untap(&self, _source: &str, _id: TapId) {}
}
