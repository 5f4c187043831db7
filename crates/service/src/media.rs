//! The port to the media plane. The real one is `huddle-sfu`; tests may plug in another.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;

use huddle_room::{MediaCommand, MediaEvent};
use tokio::sync::mpsc::UnboundedSender;

/// What the service needs from a media plane.
pub trait MediaPlane: Send + Sync + 'static {
    /// Queue a command; never blocks.
    fn send(&self, command: MediaCommand);
    /// The bound UDP address.
    fn local_addr(&self) -> SocketAddr;
    /// Live WebRTC peers (publishers + players).
    fn peers(&self) -> u64;
    /// Stop: close every peer and recording. May block; idempotent.
    fn shutdown(&self);
}

/// Where and how the media plane runs.
#[derive(Clone, Debug)]
pub struct MediaSettings {
    pub bind: SocketAddr,
    /// Resolved announce IPs (never empty).
    pub announce: Vec<IpAddr>,
    pub records_dir: PathBuf,
}

/// Starts a media plane that reports to `events`.
pub type MediaStarter = Box<
    dyn FnOnce(MediaSettings, UnboundedSender<MediaEvent>) -> io::Result<Arc<dyn MediaPlane>>
        + Send,
>;

/// The production media plane.
pub fn sfu_starter() -> MediaStarter {
    Box::new(|settings, events| {
        let plane = Unavailable::start(settings, events)?;
        Ok(Arc::new(plane) as Arc<dyn MediaPlane>)
    })
}

/// A media plane that holds the UDP port and fails every peer: used while `huddle-sfu` is not
/// linked in.
pub struct Unavailable {
    socket: UdpSocket,
    events: UnboundedSender<MediaEvent>,
}

impl Unavailable {
    pub fn start(settings: MediaSettings, events: UnboundedSender<MediaEvent>) -> io::Result<Self> {
        let socket = UdpSocket::bind(settings.bind)?;
        Ok(Self { socket, events })
    }
}

impl MediaPlane for Unavailable {
    fn send(&self, command: MediaCommand) {
        let peer = match command {
            MediaCommand::Publish { peer, .. } | MediaCommand::Play { peer, .. } => peer,
            MediaCommand::Close { .. } => return,
        };
        let _ = self.events.send(MediaEvent::Failed {
            peer,
            reason: "Media plane unavailable".to_string(),
        });
    }

    fn local_addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn peers(&self) -> u64 {
        0
    }

    fn shutdown(&self) {}
}
