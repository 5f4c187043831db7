//! Room ownership as a lease in Redis: `huddle:room:<name>` holds the owner's node id with a
//! TTL. Whoever asks first gets it (`SET NX EX`); the owner refreshes it while the room
//! lives and deletes it, only if still its own, when the room ends. A lease whose owner's
//! heartbeat key is gone (the node died) is taken over at once instead of waiting for the
//! TTL. Each operation is one Lua script, so it is atomic and costs one round trip.

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};

use super::wire::{node_key, room_key};

/// Seconds a lease lives without a refresh.
pub(crate) const LEASE_TTL_SECS: u64 = 15;

/// Returns the room's owner, making `me` the owner if there is none or if the owner's
/// heartbeat is gone.
const CLAIM: &str = r#"
local owner = redis.call('GET', KEYS[1])
if owner and redis.call('EXISTS', KEYS[2] .. owner) == 0 then
  owner = false
end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return ARGV[1]
end
return owner
"#;

/// Extends `me`'s lease, or takes a free one; returns the owner.
const REFRESH: &str = r#"
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return ARGV[1]
end
return owner
"#;

/// Deletes the lease if `me` holds it; returns 1 if it did.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// The prefix of heartbeat keys, to which the claim script appends an owner's id.
fn node_key_prefix() -> String {
    node_key("")
}

/// The owner of `room`, claimed for `me` when free or held by a dead node.
pub(crate) async fn claim(
    con: &mut ConnectionManager,
    room: &str,
    me: &str,
) -> RedisResult<String> {
    Script::new(CLAIM)
        .key(room_key(room))
        .key(node_key_prefix())
        .arg(me)
        .arg(LEASE_TTL_SECS)
        .invoke_async(con)
        .await
}

/// Keeps `me`'s lease on `room` alive (or takes it if free); returns the owner.
pub(crate) async fn refresh(
    con: &mut ConnectionManager,
    room: &str,
    me: &str,
) -> RedisResult<String> {
    Script::new(REFRESH)
        .key(room_key(room))
        .arg(me)
        .arg(LEASE_TTL_SECS)
        .invoke_async(con)
        .await
}

/// Gives up `me`'s lease on `room`; true if it was `me`'s.
pub(crate) async fn release(
    con: &mut ConnectionManager,
    room: &str,
    me: &str,
) -> RedisResult<bool> {
    let deleted: i64 = Script::new(RELEASE)
        .key(room_key(room))
        .arg(me)
        .invoke_async(con)
        .await?;
    Ok(deleted == 1)
}
