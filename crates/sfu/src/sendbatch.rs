//! Batched UDP sends: on Linux one `sendmmsg(2)` per up to [`BATCH`] datagrams instead of one
//! `sendto(2)` each (a frame fanned out to 50 players is ~250 datagrams). Elsewhere, a loop of
//! `send_to`.
//!
//! The socket is non-blocking (the driver waits on readiness). A full send buffer is waited
//! out for at most [`FULL_WAIT_MS`] per batch, as a blocking socket would wait, but bounded:
//! beyond it the datagrams are dropped (reported), never blocking the media thread for long.

use std::io;
use std::net::UdpSocket;

use crate::sfu::Transmit;

/// Datagrams per system call (well below the kernel's UIO_MAXIOV of 1024).
pub const BATCH: usize = 64;

/// How long one batch may wait, in total, for room in a full socket send buffer.
pub const FULL_WAIT_MS: i32 = 20;

/// Reused buffers for [`Sender::send`].
pub struct Sender {
    #[cfg(target_os = "linux")]
    addrs: Vec<socket2::SockAddr>,
    #[cfg(target_os = "linux")]
    iovs: Vec<libc::iovec>,
    #[cfg(target_os = "linux")]
    hdrs: Vec<libc::mmsghdr>,
}

impl Sender {
    pub fn new() -> Sender {
        Sender {
            #[cfg(target_os = "linux")]
            addrs: Vec::with_capacity(BATCH),
            #[cfg(target_os = "linux")]
            iovs: Vec::with_capacity(BATCH),
            #[cfg(target_os = "linux")]
            hdrs: Vec::with_capacity(BATCH),
        }
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
        self.addrs.clear();
        self.iovs.clear();
        self.hdrs.clear();
        for t in batch {
            self.addrs.push(socket2::SockAddr::from(t.destination));
            self.iovs.push(libc::iovec {
                iov_base: t.contents.as_ptr() as *mut libc::c_void,
                iov_len: t.contents.len(),
            });
        }
        for (addr, iov) in self.addrs.iter().zip(self.iovs.iter_mut()) {
            // SAFETY: mmsghdr is a plain C struct for which all-zero is a valid value.
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
            hdr.msg_hdr.msg_namelen = addr.len();
            hdr.msg_hdr.msg_iov = iov as *mut libc::iovec;
            hdr.msg_hdr.msg_iovlen = 1;
            self.hdrs.push(hdr);
        }
        let fd = socket.as_raw_fd();
        let mut pos = 0usize;
        // Every round either sends at least one datagram or skips one: bounded by 2 * len
        // (plus interrupted calls, which the kernel reports only while a signal is pending).
        let mut interrupts = 0;
        let mut waited_ms = 0;
        while pos < self.hdrs.len() {
            let rest = &mut self.hdrs[pos..];
            // SAFETY: `rest` points at initialized mmsghdrs whose name and iov pointers point
            // into `self.addrs`, `self.iovs` and `batch`, all alive and unmoved for this call.
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
            // The datagram at `pos` failed (e.g. unreachable destination): skip it, go on.
            on_error(&batch[pos], err);
            pos += 1;
        }
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
}
