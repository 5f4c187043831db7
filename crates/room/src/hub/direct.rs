//! Entry points for clients that are not the SDK (the RTMP edge). They take the same checks
//! and make the same room events as the SDK's commands, but the result comes back to the
//! caller instead of as a `DataStatus` / `StreamStatus` message matched by an operation id.

use super::*;
use crate::IngestCodecs;

impl Hub {
    /// Joins `session` (already connected) to `room`, like `joinRoom` without recording.
    pub fn join_direct(&mut self, now: Now, session: SessionId, room: &str) -> Result<(), String> {
        if !self.sessions.contains_key(&session) {
            return Err("Not connected".into());
        }
        let effects = self.join(now, session, room, false)?;
        self.outputs.extend(effects);
        Ok(())
    }

    /// Publishes a stream whose media arrives outside WebRTC. On success the media plane is
    /// asked to open the ingest (an `Output::Media` follows) and its frames are to be
    /// addressed to the returned peer; the stream is announced once the media plane reports
    /// it connected.
    pub fn ingest_direct(
        &mut self,
        now: Now,
        session: SessionId,
        request: StreamRequest,
        codecs: IngestCodecs,
    ) -> Result<PeerId, String> {
        if !self.sessions.contains_key(&session) {
            return Err("Not connected".into());
        }
        self.publish(now, session, request, Some(codecs))
    }
}

impl Hub {
    /// Leaves `room` like `leave` (its streams end UNPUBLISHED, LEFT to the others); a
    /// session that is not connected or not in the room is told so.
    pub fn leave_direct(&mut self, now: Now, session: SessionId, room: &str) -> Result<(), String> {
        if !self.sessions.contains_key(&session) {
            return Err("Not connected".into());
        }
        let effects = self.leave(now, session, room)?;
        self.outputs.extend(effects);
        Ok(())
    }
}
