//! What a session may do, as an access token granted it (checked at the edge).

/// The rights of one session. A session connected without grants (access control off) may
/// do everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grants {
    /// The one room the session may join, or `"*"` for any room.
    pub room: String,
    /// May publish streams.
    pub publish: bool,
    /// May ask for recordings (`record: true` on join or publish); without it the flag is
    /// ignored.
    pub record: bool,
}

impl Grants {
    /// Everything allowed in every room.
    pub fn all() -> Self {
        Self {
            room: "*".into(),
            publish: true,
            record: true,
        }
    }

    pub fn allows_room(&self, room: &str) -> bool {
        self.room == "*" || self.room == room
    }
}
