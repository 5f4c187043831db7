use std::time::Duration;

/// Default of [`RoomConfig::max_name_bytes`].
pub const DEFAULT_MAX_NAME_BYTES: usize = 256;

/// Rules of the room core. Every field has a working default.
#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// How long a participant whose socket closed without `leave` stays "away" in its rooms
    /// before it is removed (and the room finalized if it was the last one).
    pub grace_period: Duration,
    /// Participants allowed in one room (away ones count); `0` means unlimited.
    pub max_participants: usize,
    /// Largest chat text accepted, in bytes of UTF-8.
    pub max_message_bytes: usize,
    /// Template of recording file names; see [`crate::record_name`].
    pub record_template: String,
    /// Rooms on this server; `0` means unlimited. A join that would create one more fails.
    pub max_rooms: usize,
    /// Streams one session may publish at once; `0` means unlimited.
    pub max_streams_per_session: usize,
    /// Longest room name, stream name and mediaSessionId, in bytes of UTF-8 (logins are
    /// checked at the edge with the same limit). Every room message carries the room name,
    /// so an unbounded one multiplies the cost of each chat line.
    pub max_name_bytes: usize,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(60),
            max_participants: 0,
            max_message_bytes: 64 * 1024,
            record_template: crate::record_name::DEFAULT_TEMPLATE.to_string(),
            max_rooms: 0,
            max_streams_per_session: 8,
            max_name_bytes: DEFAULT_MAX_NAME_BYTES,
        }
    }
}
