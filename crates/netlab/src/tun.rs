//! TUN devices created inside a named network namespace (`ip netns add <name>`).
//!
//! A TUN device belongs to the namespace its creating thread was in at `TUNSETIFF` time, while
//! its file descriptor keeps working from any namespace. So the emulator enters the namespace,
//! creates the device, and returns to its own namespace: one process can serve links in many
//! namespaces. The device is not persistent: it disappears when the descriptor is closed, i.e.
//! when the emulator exits, however it exits.
//!
//! Written directly against `libc` (`setns`, `ioctl(TUNSETIFF)`, non-blocking `read`/`write`):
//! these are four system calls, and `libc` is already in the workspace.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// One TUN device (IP packets without the packet-information header), non-blocking.
pub struct Tun {
    file: File,
    name: String,
    netns: String,
}

impl Tun {
    /// Create TUN device `name` inside network namespace `netns` (a name under /var/run/netns).
    pub fn create_in_netns(netns: &str, name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        let own = File::open("/proc/thread-self/ns/net")?;
        let target = File::open(format!("/var/run/netns/{netns}"))
            .map_err(|e| io::Error::new(e.kind(), format!("network namespace {netns:?}: {e}")))?;
        enter_netns(&target)?;
        let created = create_tun(name);
        // Returning to our own namespace must not fail silently: every later device would be
        // created in the wrong place.
        enter_netns(&own).expect("cannot return to the emulator's own network namespace");
        Ok(Tun {
            file: created?,
            name: name.to_string(),
            netns: netns.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Read one packet; `Ok(None)` when none is waiting.
    pub fn read_packet(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes for the whole call.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(err)
        }
    }

    /// Hand one packet to the kernel as if it had arrived on this device.
    pub fn write_packet(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: packet is a valid readable buffer of packet.len() bytes for the whole call.
        let n = unsafe { libc::write(self.fd(), packet.as_ptr().cast(), packet.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

fn enter_netns(ns: &File) -> io::Result<()> {
    // SAFETY: setns on a valid namespace descriptor; affects only the calling thread.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn create_tun(name: &str) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    let cname = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(cname.as_bytes_with_nul()) {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads (and updates) an ifreq that lives for the whole call.
    if unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::TUNSETIFF,
            &mut req as *mut libc::ifreq,
        )
    } < 0
    {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
    }
    Ok(file)
}
