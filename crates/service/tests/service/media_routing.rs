//! The actor's wiring to the media plane, with a fake plane that answers at once: publish and
//! play get their SDP answer and status, stop/close reach the plane, failures become FAILED,
//! and `/api/stats` counts the plane's peers.

use crate::support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use huddle_room::{MediaCommand, MediaEvent, PeerId};
use huddle_service::media::{MediaPlane, MediaSettings, MediaStarter};
use serde_json::{json, Value};
use support::*;
use tokio::sync::mpsc::UnboundedSender;

#[derive(Default)]
struct Log {
    commands: Vec<MediaCommand>,
    open: BTreeSet<u64>,
    settings: Option<MediaSettings>,
}

struct FakeMedia {
    events: UnboundedSender<MediaEvent>,
    log: Arc<Mutex<Log>>,
    /// Offers containing this text fail instead of connecting.
    fail_marker: &'static str,
    /// When set, `settled()` never resolves (its sender is kept here): like a plane that is
    /// stopping, so the room mix never starts and its job stays on disk.
    never_settle: Option<Mutex<Vec<tokio::sync::oneshot::Sender<()>>>>,
}

impl MediaPlane for FakeMedia {
    fn send(&self, command: MediaCommand) {
        let mut log = self.log.lock().unwrap();
        log.commands.push(command.clone());
        let (peer, offer) = match command {
            MediaCommand::Publish { peer, offer, .. } | MediaCommand::Play { peer, offer, .. } => {
                (peer, offer)
            }
            MediaCommand::Close { peer } => {
                log.open.remove(&peer.0);
                return;
            }
            // An ingest has no offer: it is live once registered.
            MediaCommand::Ingest { peer, .. } => {
                log.open.insert(peer.0);
                let _ = self.events.send(MediaEvent::Connected { peer });
                return;
            }
        };
        log.open.insert(peer.0);
        if offer.contains(self.fail_marker) {
            let _ = self.events.send(MediaEvent::Failed {
                peer,
                reason: "Failed by ICE timeout".into(),
            });
            return;
        }
        let _ = self.events.send(MediaEvent::Answer {
            peer,
            sdp: format!("answer to {offer}"),
        });
        let _ = self.events.send(MediaEvent::Connected { peer });
    }

    fn local_addr(&self) -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    fn peers(&self) -> u64 {
        self.log.lock().unwrap().open.len() as u64
    }

    fn shutdown(&self) {}

    fn settled(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (done, settled) = tokio::sync::oneshot::channel();
        match &self.never_settle {
            Some(keep) => keep.lock().unwrap().push(done),
            None => {
                let _ = done.send(());
            }
        }
        settled
    }
}

fn fake(log: Arc<Mutex<Log>>) -> MediaStarter {
    fake_with(log, false)
}

fn fake_with(log: Arc<Mutex<Log>>, never_settle: bool) -> MediaStarter {
    Box::new(move |settings, events| {
        log.lock().unwrap().settings = Some(settings);
        Ok(Arc::new(FakeMedia {
            events,
            log,
            fail_marker: "FAIL",
            never_settle: never_settle.then(|| Mutex::new(Vec::new())),
        }) as Arc<dyn MediaPlane>)
    })
}

fn stream(message: &str, id: &str, name: &str, room: &str, sdp: &str) -> Value {
    json!({"message": message, "data": [{
        "mediaSessionId": id, "name": name, "published": message == "publishStream",
        "hasVideo": true, "hasAudio": true, "status": "PENDING", "record": false,
        "mediaProvider": "WebRTC", "sdp": sdp, "custom": {"name": room}}]})
}

fn assert_status(v: &Value, id: &str, status: &str) {
    assert_eq!(v["message"], "notifyStreamStatusEvent", "{v}");
    let d = &v["data"][0];
    assert_eq!(
        (d["mediaSessionId"].as_str(), d["status"].as_str()),
        (Some(id), Some(status)),
        "{v}"
    );
    assert_eq!(d["mediaProvider"], "WebRTC", "{v}");
}

#[tokio::test]
async fn publish_play_stop_through_the_media_plane() {
    let log = Arc::new(Mutex::new(Log::default()));
    let server = huddle_service::start_with_media(test_config("media"), fake(log.clone()))
        .await
        .unwrap();
    assert_eq!(server.media_addr().to_string(), "127.0.0.1:9");
    {
        let l = log.lock().unwrap();
        let s = l.settings.as_ref().unwrap();
        assert_eq!(s.bind.ip().to_string(), "127.0.0.1");
        assert_eq!(
            s.announce,
            vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
    }
    let http = server.http_addr();
    let mut a = ws_connect(http, "/", "alice").await;
    let mut b = ws_connect(http, "/", "bob").await;
    a.login("alice").await;
    b.login("bob").await;
    a.join("a1", "R").await;
    b.join("b1", "R").await;
    a.expect_event("R", "JOINED").await;

    // A publishes: setRemoteSDP [id, answer, true], then PUBLISHING; B hears PUBLISHED.
    a.send(stream(
        "publishStream",
        "A-pub",
        "R-alice-1f0c",
        "R",
        "offer-A",
    ))
    .await;
    let v = a.next().await;
    assert_eq!(
        v,
        json!({"message":"setRemoteSDP","data":["A-pub","answer to offer-A",true]})
    );
    assert_status(&a.next().await, "A-pub", "PUBLISHING");
    assert_eq!(
        b.expect_event("R", "PUBLISHED").await,
        json!({"login":"alice","name":"R-alice-1f0c"})
    );

    // B plays it.
    b.send(stream(
        "playStream",
        "B-play-A",
        "R-alice-1f0c",
        "R",
        "offer-B",
    ))
    .await;
    let v = b.next().await;
    assert_eq!(v["message"], "setRemoteSDP");
    assert_eq!(v["data"][0], "B-play-A");
    assert_status(&b.next().await, "B-play-A", "PLAYING");
    let s = wait_stats(&server, "2 peers", |s| s.media_peers == 2).await;
    assert_eq!((s.publishers, s.players), (1, 1));
    {
        let l = log.lock().unwrap();
        let kinds: Vec<&str> = l
            .commands
            .iter()
            .map(|c| match c {
                MediaCommand::Publish { .. } => "publish",
                MediaCommand::Play { .. } => "play",
                MediaCommand::Ingest { .. } => "ingest",
                MediaCommand::Close { .. } => "close",
            })
            .collect();
        assert_eq!(kinds, ["publish", "play"]);
        let MediaCommand::Play { source, .. } = &l.commands[1] else {
            unreachable!()
        };
        let MediaCommand::Publish { peer, .. } = &l.commands[0] else {
            unreachable!()
        };
        assert_eq!(source, peer, "the player plays the publisher's peer");
    }

    // A unpublishes: A UNPUBLISHED; B's player STOPPED by the publisher, room UNPUBLISHED.
    a.send(json!({"message":"unPublishStream","data":[{"mediaSessionId":"A-pub","name":"R-alice-1f0c","published":true,"hasVideo":true,"hasAudio":true,"status":"PUBLISHING","record":false}]}))
        .await;
    assert_status(&a.next().await, "A-pub", "UNPUBLISHED");
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(b.next().await);
    }
    let stopped = seen
        .iter()
        .find(|v| v["message"] == "notifyStreamStatusEvent")
        .expect("STOPPED for B's player");
    assert_status(stopped, "B-play-A", "STOPPED");
    assert_eq!(stopped["data"][0]["info"], "Stopped by publisher stop");
    assert!(
        seen.iter()
            .any(|v| v["message"] == "OnDataEvent"
                && v["data"][0]["payload"]["name"] == "UNPUBLISHED")
    );
    wait_stats(&server, "no peers", |s| {
        s.media_peers == 0 && s.publishers == 0
    })
    .await;
    assert!(
        log.lock()
            .unwrap()
            .commands
            .iter()
            .filter(|c| matches!(c, MediaCommand::Close { .. }))
            .count()
            >= 2
    );

    // A media failure: FAILED on the stream, with the plane's reason.
    a.send(stream(
        "publishStream",
        "A-pub2",
        "R-alice-2b2b",
        "R",
        "offer FAIL",
    ))
    .await;
    let v = a.next().await;
    assert_status(&v, "A-pub2", "FAILED");
    assert_eq!(v["data"][0]["info"], "Failed by ICE timeout");

    // Disconnect with a live stream: the plane is told to close it.
    a.send(stream(
        "publishStream",
        "A-pub3",
        "R-alice-3c3c",
        "R",
        "offer-A3",
    ))
    .await;
    a.next().await;
    assert_status(&a.next().await, "A-pub3", "PUBLISHING");
    let peer = log
        .lock()
        .unwrap()
        .commands
        .iter()
        .rev()
        .find_map(|c| match c {
            MediaCommand::Publish { peer, .. } => Some(*peer),
            _ => None,
        });
    drop(a);
    let peer: PeerId = peer.unwrap();
    for _ in 0..50 {
        if !log.lock().unwrap().open.contains(&peer.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !log.lock().unwrap().open.contains(&peer.0),
        "closed after the socket dropped"
    );
    server.shutdown().await;
}

/// A graceful stop ends every room, so a recording room's mix job is written down even though
/// its participants never left (it runs at the next start if the process exits first).
#[tokio::test]
async fn stopping_the_server_finalizes_recorded_rooms() {
    let log = Arc::new(Mutex::new(Log::default()));
    let config = test_config("stop-finalize");
    let records = config.records_dir.clone();
    let server = huddle_service::start_with_media(config, fake_with(log.clone(), true))
        .await
        .unwrap();
    let mut a = ws_connect(server.http_addr(), "/", "alice").await;
    a.login("alice").await;
    a.send_data("a1", "join", json!({"name": "Rec", "record": true}))
        .await;
    a.expect_status("a1", "ACCEPTED").await;
    a.expect_event("Rec", "STATE").await;
    a.send(stream(
        "publishStream",
        "A-pub",
        "Rec-alice-1",
        "Rec",
        "offer-A",
    ))
    .await;
    // setRemoteSDP, then PUBLISHING with the recording's name.
    a.next().await;
    let v = a.next().await;
    assert_status(&v, "A-pub", "PUBLISHING");
    let record_name = v["data"][0]["recordName"].as_str().unwrap().to_string();
    server.shutdown().await;
    let jobs: Vec<String> = std::fs::read_dir(records.join(".jobs"))
        .expect("a job folder")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].contains("\"room\": \"Rec\""), "{}", jobs[0]);
    assert!(jobs[0].contains(&record_name), "{}", jobs[0]);
}

/// A crash must not lose a recorded room's mix: the job is on disk, open, from the moment the
/// first stream records — before the room ends or the server stops.
#[tokio::test]
async fn a_recorded_publish_notes_the_open_mix_job_at_once() {
    let log = Arc::new(Mutex::new(Log::default()));
    let config = test_config("open-job");
    let records = config.records_dir.clone();
    let server = huddle_service::start_with_media(config, fake_with(log.clone(), true))
        .await
        .unwrap();
    let mut a = ws_connect(server.http_addr(), "/", "alice").await;
    a.login("alice").await;
    a.send_data("a1", "join", json!({"name": "Open", "record": true}))
        .await;
    a.expect_status("a1", "ACCEPTED").await;
    a.expect_event("Open", "STATE").await;
    let jobs = || -> Vec<serde_json::Value> {
        std::fs::read_dir(records.join(".jobs"))
            .map(|d| {
                d.flatten()
                    // Not a `.json.tmp` being written.
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(jobs().is_empty(), "no job before a stream records");
    a.send(stream(
        "publishStream",
        "A-pub",
        "Open-alice-1",
        "Open",
        "offer-A",
    ))
    .await;
    a.next().await;
    let v = a.next().await;
    assert_status(&v, "A-pub", "PUBLISHING");
    let record_name = v["data"][0]["recordName"].as_str().unwrap().to_string();
    // The job file is written on the recordings' job thread, right after the core reports
    // the stream: it shows up within moments of PUBLISHING, long before the room ends.
    let mut open = jobs();
    for _ in 0..100 {
        if !open.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        open = jobs();
    }
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["room"], "Open");
    assert!(open[0]["ended_unix_ms"].is_null(), "{}", open[0]);
    assert_eq!(open[0]["files"][0][0], record_name.as_str());
    // A clean stop completes it.
    server.shutdown().await;
    let closed = jobs();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert!(closed[0]["ended_unix_ms"].is_u64(), "{}", closed[0]);
}
