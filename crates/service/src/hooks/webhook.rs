//! Signed webhooks (LiveKit-style): each lifecycle [`Event`] becomes one JSON body
//! `{"event", "id", "createdAt", <object>}`, signed, and queued to every `webhook_urls`.

use serde_json::{json, Value};

use super::delivery::{Job, Queue};
use super::lifecycle::{Event, Stream};

pub(crate) struct Webhooks {
    pub(super) queues: Vec<Queue>,
    pub(super) signer: super::Signer,
}

impl Webhooks {
    /// Queues `event` for every URL; never waits.
    pub(crate) fn send(&self, event: &Event, unix_ms: u64) {
        let body = serde_json::to_vec(&body(event, unix_ms, &new_id())).expect("JSON serializes");
        let headers = super::headers(Some(&self.signer), &body);
        for queue in &self.queues {
            queue.push(Job {
                url: queue.name().to_string(),
                body: body.clone(),
                headers: headers.clone(),
            });
        }
    }
}

/// A random event id (128 bits, hex): receivers drop a redelivered event by it.
fn new_id() -> String {
    format!("EV_{:032x}", rand::random::<u128>())
}

/// The event's name on the wire.
pub(crate) fn name(event: &Event) -> &'static str {
    match event {
        Event::RoomStarted { .. } => "room_started",
        Event::RoomFinished { .. } => "room_finished",
        Event::ParticipantJoined { .. } => "participant_joined",
        Event::ParticipantLeft { .. } => "participant_left",
        Event::StreamPublished(_) => "stream_published",
        Event::StreamUnpublished(_) => "stream_unpublished",
        Event::RecordingFinished(_) => "recording_finished",
        Event::MixFinished { .. } => "mix_finished",
    }
}

/// The JSON body of one event. `createdAt` is in Unix seconds (as LiveKit's), `createdAtMs`
/// in milliseconds.
pub(crate) fn body(event: &Event, unix_ms: u64, id: &str) -> Value {
    let mut body = json!({
        "event": name(event),
        "id": id,
        "createdAt": unix_ms / 1000,
        "createdAtMs": unix_ms,
    });
    let object = body.as_object_mut().expect("an object");
    match event {
        Event::RoomStarted { room } => {
            object.insert("room".into(), json!({ "name": room }));
        }
        Event::RoomFinished {
            room,
            record,
            started_unix_ms,
            ended_unix_ms,
            recordings,
        } => {
            object.insert(
                "room".into(),
                json!({
                    "name": room,
                    "record": record,
                    "startedAtMs": started_unix_ms,
                    "endedAtMs": ended_unix_ms,
                    "recordings": recordings,
                }),
            );
        }
        Event::ParticipantJoined { room, login } | Event::ParticipantLeft { room, login } => {
            object.insert("room".into(), json!({ "name": room }));
            object.insert("participant".into(), json!({ "login": login }));
        }
        Event::StreamPublished(s) | Event::StreamUnpublished(s) => {
            insert_room(object, s);
            object.insert("stream".into(), stream(s));
        }
        Event::RecordingFinished(s) => {
            insert_room(object, s);
            object.insert(
                "recording".into(),
                json!({
                    "file": s.record_name,
                    "stream": s.name,
                    "login": s.login,
                    "mediaSessionId": s.media_session_id,
                }),
            );
        }
        Event::MixFinished {
            room,
            file,
            ok,
            duration_ms,
            ..
        } => {
            object.insert("room".into(), json!({ "name": room }));
            object.insert(
                "mix".into(),
                json!({ "file": file, "ok": ok, "durationMs": duration_ms }),
            );
        }
    }
    body
}

fn insert_room(object: &mut serde_json::Map<String, Value>, s: &Stream) {
    if let Some(room) = &s.room {
        object.insert("room".into(), json!({ "name": room }));
    }
}

fn stream(s: &Stream) -> Value {
    json!({
        "name": s.name,
        "login": s.login,
        "mediaSessionId": s.media_session_id,
        "recordName": s.record_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_the_event_and_carry_its_object() {
        let joined = body(
            &Event::ParticipantJoined {
                room: "R".into(),
                login: "alice".into(),
            },
            1_700_000_000_123,
            "EV_1",
        );
        assert_eq!(
            joined,
            json!({"event": "participant_joined", "id": "EV_1", "createdAt": 1_700_000_000u64,
                   "createdAtMs": 1_700_000_000_123u64,
                   "room": {"name": "R"}, "participant": {"login": "alice"}})
        );
        let s = Stream {
            room: Some("R".into()),
            login: "alice".into(),
            name: "cam".into(),
            media_session_id: "m1".into(),
            record_name: Some("R-alice-cam.mkv".into()),
        };
        let rec = body(&Event::RecordingFinished(s), 5000, "EV_2");
        assert_eq!(rec["event"], "recording_finished");
        assert_eq!(rec["recording"]["file"], "R-alice-cam.mkv");
        assert_eq!(rec["room"]["name"], "R");
        assert_ne!(new_id(), new_id());
        let mix = body(
            &Event::MixFinished {
                room: "R".into(),
                file: "R-1.mkv".into(),
                ok: true,
                duration_ms: Some(61_000),
                finished_unix_ms: 9000,
            },
            9000,
            "EV_3",
        );
        assert_eq!(mix["event"], "mix_finished");
        assert_eq!(
            mix["mix"],
            json!({"file": "R-1.mkv", "ok": true, "durationMs": 61_000})
        );
    }
}
