//! Batched UDP sends: on Linux one `sendmmsg(2)` per up to [`BATCH`] datagrams instead of one
//! `sendto(2)` each (a frame fanned out to 50 players is ~250 datagrams), and datagrams that
//! follow each other to one destination with one size go as one message with UDP generic
//! segmentation offload (GSO, `UDP_SEGMENT`, Linux >= 4.18): the kernel builds, routes and
//! queues one buffer and cuts it into the datagrams at the end of its send path (or the NIC
//! does). In RTP mode a player's packets of one frame leave together and (but for the last)
//! usually have one size, so a frame costs the kernel's send path about once per player
//! instead of once per packet: that path was ~30 % of the media thread's CPU at fan-out 100
//! (docs/RTP_MODE.md, "CPU per packet"). Elsewhere, a loop of `send_to`.
//!
//! Written here rather than taken from `quinn-udp` (which does GSO well): it sends one
//! message per system call, and a fan-out mixes many one-datagram messages (audio, small
//! frames) with the GSO runs; `sendmmsg` with mixed messages keeps both in one call, without
//! copying the datagrams into one buffer.
//!
//! The socket is non-blocking (the driver waits on readiness). A full send buffer is waited
//! out for at most [`FULL_WAIT_MS`] per batch, as a blocking socket would wait, but bounded:
//! beyond it the datagrams are dropped (reported), never blocking the media thread for long.
//! A GSO message the kernel refuses (`EIO`/`EINVAL`: a device without the offload's checksum
//! support; `EMSGSIZE`: a segment above the path MTU) is sent again datagram by datagram, and
//! for `EIO`/`EINVAL` GSO is switched off for this sender.

use std::io;
use std::net::UdpSocket;

use crate::sfu::Transmit;

/// Datagrams per system call (well below the kernel's UIO_MAXIOV of 1024).
pub const BATCH: usize = 64;

/// How long one batch may wait, in total, for room in a full socket send buffer.
pub const FULL_WAIT_MS: i32 = 20;

/// Most datagrams in one GSO message (the kernel's `UDP_MAX_SEGMENTS` is 64 before 6.x).
pub const GSO_MAX_SEGMENTS: usize = 64;

/// Most bytes in one GSO message (an IPv4 datagram's payload limit, with room for headers).
const GSO_MAX_BYTES: usize = 65_000;

/// Splits `batch` into messages: runs of datagrams to one destination where every datagram
/// has the first one's size but the last, which may be shorter (what UDP GSO can cut back
/// into the same datagrams). Returns each message's (first index, count), in order.
pub fn gso_runs(
    batch: &[Transmit],
    max_segments: usize,
) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= batch.len() {
            return None;
        }
        let first = &batch[start];
        let size = first.contents.len();
        let mut count = 1;
        let mut bytes = size;
        while start + count < batch.len() && count < max_segments {
            let next = &batch[start + count];
            let len = next.contents.len();
            if next.destination != first.destination
                || len > size
                || len == 0
                || bytes + len > GSO_MAX_BYTES
            {
                break;
            }
            count += 1;
            bytes += len;
            if len < size {
                break; // a shorter datagram ends the run
            }
        }
        let run = (start, count);
        start += count;
        Some(run)
    })
}

/// The same error again (one per datagram of a failed message).
#[cfg(target_os = "linux")]
fn copy_error(err: &io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(err.kind(), err.to_string()),
    }
}

/// Control-message buffer for one `UDP_SEGMENT` (cmsghdr + u16, padded; 8-byte aligned).
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct SegmentCmsg([u8; 32]);

/// `UDP_SEGMENT` (linux/udp.h; not in the libc crate for glibc targets).
#[cfg(target_os = "linux")]
const UDP_SEGMENT: libc::c_int = 103;

/// Reused buffers for [`Sender::send`].
pub struct Sender {
    /// Datagrams per GSO message (1: GSO off).
    max_segments: usize,
    /// Messages and datagrams sent so far (how much GSO grouped).
    pub messages: u64,
    pub datagrams: u64,
    #[cfg(target_os = "linux")]
    runs: Vec<(usize, usize)>,
    #[cfg(target_os = "linux")]
    addrs: Vec<socket2::SockAddr>,
    #[cfg(target_os = "linux")]
    iovs: Vec<libc::iovec>,
    #[cfg(target_os = "linux")]
    cmsgs: Vec<SegmentCmsg>,
    #[cfg(target_os = "linux")]
    hdrs: Vec<libc::mmsghdr>,
}

impl Default for Sender {
    fn default() -> Sender {
        Sender::new()
    }
}

impl Sender {
    /// A sender that groups datagrams with GSO where the platform has it.
    pub fn new() -> Sender {
        Sender::with_gso(cfg!(target_os = "linux"))
    }

    /// `gso: false` sends every datagram as its own message.
    pub fn with_gso(gso: bool) -> Sender {
        Sender {
            max_segments: if gso { GSO_MAX_SEGMENTS } else { 1 },
            messages: 0,
            datagrams: 0,
            #[cfg(target_os = "linux")]
            runs: Vec::with_capacity(BATCH),
            #[cfg(target_os = "linux")]
            addrs: Vec::with_capacity(BATCH),
            #[cfg(target_os = "linux")]
            iovs: Vec::with_capacity(BATCH),
            #[cfg(target_os = "linux")]
            cmsgs: Vec::with_capacity(BATCH),
            #[cfg(target_os = "linux")]
            hdrs: Vec::with_capacity(BATCH),
        }
    }

    /// Whether datagrams are still grouped (GSO not refused by the kernel).
    pub fn gso(&self) -> bool {
        self.max_segments > 1
    }

    /// Sends every datagram of `batch` (at most [`BATCH`]) and calls `on_error` once per
    /// datagram that could not be sent. Datagrams are sent in order.
    #[cfg(target_os = "linux")]
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        batch: &[Transmit],
        mut on_error: impl FnMut(&Transmit, io::Error),
    ) {
        use std::os::fd::AsRawFd;
        debug_assert!(batch.len() <= BATCH);
        self.runs.clear();
        self.runs.extend(gso_runs(batch, self.max_segments));
        self.addrs.clear();
        self.iovs.clear();
        self.cmsgs.clear();
        self.hdrs.clear();
        for t in batch {
            self.iovs.push(libc::iovec {
                iov_base: t.contents.as_ptr() as *mut libc::c_void,
                iov_len: t.contents.len(),
            });
        }
        for &(start, _) in &self.runs {
            self.addrs
                .push(socket2::SockAddr::from(batch[start].destination));
            self.cmsgs.push(SegmentCmsg([0; 32]));
        }
        // Every vector is complete: pointers into them stay valid for this call.
        for (i, &(start, count)) in self.runs.iter().enumerate() {
            let addr = &self.addrs[i];
            // SAFETY: mmsghdr is a plain C struct for which all-zero is a valid value.
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
            hdr.msg_hdr.msg_namelen = addr.len();
            hdr.msg_hdr.msg_iov = &mut self.iovs[start] as *mut libc::iovec;
            hdr.msg_hdr.msg_iovlen = count as _;
            if count > 1 {
                let cmsg = &mut self.cmsgs[i];
                hdr.msg_hdr.msg_control = cmsg.0.as_mut_ptr() as *mut libc::c_void;
                // SAFETY: CMSG_SPACE only computes a size.
                hdr.msg_hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
                // SAFETY: the control buffer (32 bytes, 8-aligned) holds CMSG_SPACE(2) = 24
                // bytes; CMSG_FIRSTHDR/CMSG_DATA point inside it.
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(&hdr.msg_hdr);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as _;
                    let segment = batch[start].contents.len() as u16;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, segment);
                }
            }
            self.hdrs.push(hdr);
        }
        let fd = socket.as_raw_fd();
        let mut pos = 0usize;
        // Every round either sends at least one message or skips one: bounded by 2 * len
        // (plus interrupted calls, which the kernel reports only while a signal is pending).
        let mut interrupts = 0;
        let mut waited_ms = 0;
        while pos < self.hdrs.len() {
            let rest = &mut self.hdrs[pos..];
            // SAFETY: `rest` points at initialized mmsghdrs whose name, iov and control
            // pointers point into `self.addrs`, `self.iovs`, `self.cmsgs` and `batch`, all
            // alive and unmoved for this call.
            let n = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as libc::c_uint, 0) };
            if n > 0 {
                pos += n as usize;
                continue;
            }
            let err = if n == 0 {
                io::Error::new(io::ErrorKind::WriteZero, "sendmmsg sent nothing")
            } else {
                io::Error::last_os_error()
            };
            if err.kind() == io::ErrorKind::Interrupted && interrupts < 8 {
                interrupts += 1;
                continue;
            }
            if err.kind() == io::ErrorKind::WouldBlock && waited_ms < FULL_WAIT_MS {
                // The send buffer is full: wait (bounded) until the kernel has room.
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let step = 5.min(FULL_WAIT_MS - waited_ms);
                // SAFETY: one valid pollfd, count 1.
                unsafe { libc::poll(&mut pfd, 1, step) };
                waited_ms += step;
                continue;
            }
            let (start, count) = self.runs[pos];
            let run = &batch[start..start + count];
            if count > 1
                && matches!(
                    err.raw_os_error(),
                    Some(libc::EIO | libc::EINVAL | libc::EMSGSIZE)
                )
            {
                // Maybe the kernel (or device) refuses GSO, maybe the destination: the run's
                // datagrams one by one. If they all go, GSO was the problem: off for good
                // (not for EMSGSIZE: only this run's size was too large for the path).
                let mut failed = false;
                for t in run {
                    if let Err(e) = socket.send_to(&t.contents, t.destination) {
                        failed = true;
                        on_error(t, e);
                    }
                }
                if !failed && err.raw_os_error() != Some(libc::EMSGSIZE) {
                    tracing::info!("UDP GSO refused ({err}): sending datagram by datagram");
                    self.max_segments = 1;
                }
            } else {
                // The message at `pos` failed (e.g. unreachable destination): skip it, go on.
                for t in run {
                    on_error(t, copy_error(&err));
                }
            }
            pos += 1;
        }
        self.messages += self.hdrs.len() as u64;
        self.datagrams += batch.len() as u64;
    }

    #[cfg(not(target_os = "linux"))]
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        batch: &[Transmit],
        mut on_error: impl FnMut(&Transmit, io::Error),
    ) {
        for t in batch {
            if let Err(e) = socket.send_to(&t.contents, t.destination) {
                on_error(t, e);
            }
        }
        self.messages += batch.len() as u64;
        self.datagrams += batch.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn batch_arrives_in_order_and_a_bad_destination_is_skipped() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let to = rx.local_addr().unwrap();
        // Port 0 cannot be sent to: the kernel rejects that datagram only.
        let bad = "127.0.0.1:0".parse().unwrap();
        let mut batch = Vec::new();
        for i in 0..BATCH as u8 {
            let destination = if i == 10 { bad } else { to };
            batch.push(Transmit {
                proto: str0m::net::Protocol::Udp,
                destination,
                contents: vec![i; 100 + i as usize],
            });
        }
        let mut sender = Sender::new();
        let mut errors = Vec::new();
        sender.send(&tx, &batch, |t, _| errors.push(t.contents[0]));
        assert_eq!(errors, vec![10]);
        let mut buf = [0u8; 512];
        for i in (0..BATCH as u8).filter(|i| *i != 10) {
            let (n, from) = rx.recv_from(&mut buf).unwrap();
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(n, 100 + i as usize);
            assert!(buf[..n].iter().all(|b| *b == i));
        }
        // The sender's buffers are reused: a second, smaller batch works too.
        sender.send(&tx, &batch[..2], |_, e| panic!("{e}"));
        assert_eq!(rx.recv_from(&mut buf).unwrap().0, 100);
        assert_eq!(rx.recv_from(&mut buf).unwrap().0, 101);
    }

    fn transmit(destination: std::net::SocketAddr, len: usize, fill: u8) -> Transmit {
        Transmit {
            proto: str0m::net::Protocol::Udp,
            destination,
            contents: vec![fill; len],
        }
    }

    #[test]
    fn runs_group_one_destination_and_size_with_a_shorter_last() {
        let a = "127.0.0.1:1000".parse().unwrap();
        let b = "127.0.0.1:2000".parse().unwrap();
        let sizes_to = [
            (a, 1200),
            (a, 1200),
            (a, 1200),
            (a, 700), // shorter: ends the run
            (a, 1200),
            (a, 1300), // longer: a new run
            (b, 1300), // other destination: a new run
            (b, 1300),
            (a, 100),
        ];
        let batch: Vec<_> = sizes_to.iter().map(|&(d, n)| transmit(d, n, 0)).collect();
        let runs: Vec<_> = gso_runs(&batch, GSO_MAX_SEGMENTS).collect();
        assert_eq!(runs, vec![(0, 4), (4, 1), (5, 1), (6, 2), (8, 1)]);
        // GSO off: one message per datagram.
        let singles: Vec<_> = gso_runs(&batch, 1).collect();
        assert_eq!(
            singles,
            (0..batch.len()).map(|i| (i, 1)).collect::<Vec<_>>()
        );
        // The segment count and the byte bound cut long runs.
        let long: Vec<_> = (0..BATCH).map(|_| transmit(a, 1200, 0)).collect();
        let runs: Vec<_> = gso_runs(&long, 10).collect();
        assert_eq!(runs.len(), BATCH.div_ceil(10));
        assert!(runs.iter().all(|&(_, n)| n <= 10));
        let runs: Vec<_> = gso_runs(&long, GSO_MAX_SEGMENTS).collect();
        assert_eq!(
            runs,
            vec![(0, 54), (54, 10)],
            "65,000 bytes per message at most"
        );
    }

    #[test]
    fn gso_runs_arrive_as_the_same_datagrams_in_order() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx2 = UdpSocket::bind("127.0.0.1:0").unwrap();
        for rx in [&rx1, &rx2] {
            rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        }
        let (to1, to2) = (rx1.local_addr().unwrap(), rx2.local_addr().unwrap());
        let bad = "127.0.0.1:0".parse().unwrap();
        // Two players' frames (equal packets, a shorter last), an audio packet between them,
        // and a run to a destination the kernel refuses.
        let mut batch = Vec::new();
        let mut expect1 = Vec::new();
        let mut expect2 = Vec::new();
        for i in 0..8u8 {
            let len = if i == 7 { 333 } else { 1100 };
            batch.push(transmit(to1, len, i));
            expect1.push((len, i));
        }
        batch.push(transmit(to2, 90, 100));
        expect2.push((90, 100));
        batch.push(transmit(bad, 1100, 200));
        batch.push(transmit(bad, 1100, 201));
        for i in 0..5u8 {
            batch.push(transmit(to2, 1000, 110 + i));
            expect2.push((1000, 110 + i));
        }
        let mut sender = Sender::new();
        let mut errors = Vec::new();
        sender.send(&tx, &batch, |t, _| errors.push(t.contents[0]));
        assert_eq!(
            errors,
            vec![200, 201],
            "each datagram of the refused run is reported"
        );
        assert_eq!(sender.datagrams, batch.len() as u64);
        assert_eq!(sender.messages, 4, "one message per run");
        assert!(
            sender.gso(),
            "a refused destination does not switch GSO off"
        );
        let mut buf = [0u8; 2048];
        for (rx, expect) in [(&rx1, &expect1), (&rx2, &expect2)] {
            for &(len, fill) in expect {
                let (n, from) = rx.recv_from(&mut buf).unwrap();
                assert_eq!(from, tx.local_addr().unwrap());
                assert_eq!((n, buf[0]), (len, fill));
                assert!(buf[..n].iter().all(|b| *b == fill));
            }
        }
        // Without GSO the same batch arrives the same way, one message per datagram.
        let mut plain = Sender::with_gso(false);
        plain.send(&tx, &batch[..9], |_, e| panic!("{e}"));
        assert_eq!(plain.messages, 9);
        for &(len, fill) in &expect1 {
            let n = rx1.recv(&mut buf).unwrap();
            assert_eq!((n, buf[0]), (len, fill));
        }
        assert_eq!(rx2.recv(&mut buf).unwrap(), 90);
    }
}
