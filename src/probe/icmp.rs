//! ICMP errors that end a TCP connect: what their type and code mean, and (on Linux) how to
//! learn them and their sender from the socket's error queue.
//!
//! A firewall that rejects a connection answers with a TCP reset or with an ICMP error; the
//! errno the connect returns (EHOSTUNREACH, ECONNREFUSED, ...) loses the ICMP type, the code
//! and the address that sent it. With `IP_RECVERR` / `IPV6_RECVERR` set, Linux queues the
//! ICMP error on the socket, where `recvmsg(MSG_ERRQUEUE)` reads it with the sender
//! (`SO_EE_OFFENDER`). Elsewhere the queue is never available and the errno is all there is.

use std::net::IpAddr;

/// An ICMP or ICMPv6 error received for a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IcmpError {
    /// ICMPv6 rather than ICMP.
    pub(crate) v6: bool,
    /// The ICMP type.
    pub(crate) icmp_type: u8,
    /// The ICMP code.
    pub(crate) code: u8,
    /// The address that sent the error, when the kernel knows it.
    pub(crate) sender: Option<IpAddr>,
}

/// What an ICMP error says about the path, for the explanation of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// Administratively prohibited: a filter rejected the packet.
    Prohibited,
    /// Port unreachable: for TCP, a firewall (a host answers a closed TCP port with a reset).
    PortUnreachable,
    /// Host unreachable: the sender cannot deliver to the host, or a filter says so.
    HostUnreachable,
    /// Network unreachable: the sender has no route to the network, or a filter says so.
    NetUnreachable,
    /// Time exceeded: the packet looped or the path is too long.
    TimeExceeded,
    /// Anything else.
    Other,
}

impl IcmpError {
    /// The type and code in words and in numbers, e.g.
    /// `administratively prohibited (ICMP type 3 code 13)`.
    pub(crate) fn describe(&self) -> String {
        let protocol = if self.v6 { "ICMPv6" } else { "ICMP" };
        format!(
            "{} ({protocol} type {} code {})",
            self.words(),
            self.icmp_type,
            self.code
        )
    }

    /// The type and code in words.
    pub(crate) fn words(&self) -> &'static str {
        if self.v6 {
            match (self.icmp_type, self.code) {
                (1, 0) => "no route to destination",
                (1, 1) => "administratively prohibited",
                (1, 2) => "beyond scope of source address",
                (1, 3) => "address unreachable",
                (1, 4) => "port unreachable",
                (1, 5) => "source address failed ingress/egress policy",
                (1, 6) => "reject route to destination",
                (1, _) => "destination unreachable",
                (2, _) => "packet too big",
                (3, _) => "time exceeded",
                (4, _) => "parameter problem",
                _ => "unexpected ICMPv6 error",
            }
        } else {
            match (self.icmp_type, self.code) {
                (3, 0) => "network unreachable",
                (3, 1) => "host unreachable",
                (3, 2) => "protocol unreachable",
                (3, 3) => "port unreachable",
                (3, 4) => "fragmentation needed",
                (3, 5) => "source route failed",
                (3, 6) => "destination network unknown",
                (3, 7) => "destination host unknown",
                (3, 8) => "source host isolated",
                (3, 9) => "network administratively prohibited",
                (3, 10) => "host administratively prohibited",
                (3, 11) => "network unreachable for the type of service",
                (3, 12) => "host unreachable for the type of service",
                (3, 13) => "administratively prohibited",
                (3, 14) => "host precedence violation",
                (3, 15) => "precedence cutoff in effect",
                (3, _) => "destination unreachable",
                (11, _) => "time exceeded",
                (12, _) => "parameter problem",
                _ => "unexpected ICMP error",
            }
        }
    }

    /// What the error says about the path.
    pub(crate) fn meaning(&self) -> Meaning {
        match (self.v6, self.icmp_type, self.code) {
            (false, 3, 9 | 10 | 13) | (true, 1, 1 | 5 | 6) => Meaning::Prohibited,
            (false, 3, 3) | (true, 1, 4) => Meaning::PortUnreachable,
            (false, 3, 1 | 7 | 8 | 12) | (true, 1, 3) => Meaning::HostUnreachable,
            (false, 3, 0 | 6 | 11) | (true, 1, 0) => Meaning::NetUnreachable,
            (false, 11, _) | (true, 3, _) => Meaning::TimeExceeded,
            _ => Meaning::Other,
        }
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::{Connecting, Ended};

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::os::fd::{AsRawFd as _, RawFd};

    use tokio::io::Interest;
    use tokio::net::TcpStream;

    use super::IcmpError;

    /// A TCP connect in progress on one socket whose error queue is watched: tokio's own
    /// registration of the socket waits for writability (the connect's end) and errors (an
    /// ICMP error queued), so that a connection in flight holds one descriptor, not two, and
    /// the stream is ready to use the moment it connects.
    pub(crate) struct Connecting {
        stream: TcpStream,
        v6: bool,
        /// Whether `IP_RECVERR` is on: then an errno without an ICMP error means that no
        /// ICMP error arrived.
        watched: bool,
        /// An error the connect() call returned at once.
        early: Option<io::Error>,
        /// An ICMP error read from the queue beside a connect error, for [`Self::take`].
        pending: Option<IcmpError>,
    }

    /// How a connect that did not succeed ended.
    pub(crate) enum Ended {
        /// The connect failed with this error.
        Error(io::Error),
        /// An ICMP error was queued: the answer to the attempt.
        Icmp(IcmpError),
    }

    impl Connecting {
        /// Creates a socket, turns its error queue on (`IP_RECVERR` / `IPV6_RECVERR`)
        /// and starts a non-blocking connect to `address`. Errors only when no socket
        /// can be had; an error of the connect itself is [`Self::wait`]'s answer.
        pub(crate) fn start(address: SocketAddr) -> io::Result<Self> {
            let v6 = address.is_ipv6();
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(address),
                socket2::Type::STREAM.nonblocking(),
                Some(socket2::Protocol::TCP),
            )?;
            let watched = match set_recverr(socket.as_raw_fd(), v6, true) {
                Ok(()) => true,
                Err(error) => {
                    tracing::debug!(%address, %error, "Cannot watch the socket error queue, ICMP errors are known by their errno only");
                    false
                }
            };
            let early = match socket.connect(&address.into()) {
                Ok(()) => None,
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => None,
                Err(e) => Some(e),
            };
            let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
            Ok(Self {
                stream,
                v6,
                watched,
                early,
                pending: None,
            })
        }

        /// Whether the error queue is watched.
        pub(crate) fn watched(&self) -> bool {
            self.watched
        }

        /// Waits until the connect ends: `Ok` when connected. An ICMP error queued while
        /// the connect() call held the socket lock does not end the connect at once (Linux
        /// then only retries at the SYN retransmission), but it is the answer: it is taken
        /// as soon as it is queued.
        pub(crate) async fn wait(&mut self) -> Result<(), Ended> {
            if let Some(error) = self.early.take() {
                return Err(Ended::Error(error));
            }
            loop {
                let ready = self
                    .stream
                    .ready(Interest::WRITABLE | Interest::ERROR)
                    .await
                    .map_err(Ended::Error)?;
                let icmp = if ready.is_error() {
                    self.queued()
                } else {
                    None
                };
                match self.stream.take_error() {
                    Ok(Some(error)) | Err(error) => {
                        self.pending = icmp;
                        return Err(Ended::Error(error));
                    }
                    Ok(None) => {}
                }
                if let Some(icmp) = icmp {
                    return Err(Ended::Icmp(icmp));
                }
                if ready.is_writable() {
                    return Ok(());
                }
                // An error without a queued ICMP error or an errno: clear it and wait for
                // the next one.
                let _ = self.stream.try_io(Interest::ERROR, || {
                    Err::<(), _>(io::ErrorKind::WouldBlock.into())
                });
            }
        }

        /// The first ICMP error known now, if any (drains the queue).
        pub(crate) fn take(&mut self) -> Option<IcmpError> {
            self.pending.take().or_else(|| self.queued())
        }

        fn queued(&self) -> Option<IcmpError> {
            if !self.watched {
                return None;
            }
            let fd = self.stream.as_raw_fd();
            let mut found = None;
            // Entries of other origins (local errors) are skipped; the queue is short.
            for _ in 0..16 {
                match read_one(fd) {
                    Ok(Some(icmp)) => {
                        found.get_or_insert(icmp);
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
            found
        }

        /// The local address the connection attempt used, when the socket still has one.
        pub(crate) fn local_ip(&self) -> Option<IpAddr> {
            self.stream
                .local_addr()
                .ok()
                .map(|a| a.ip())
                .filter(|ip| !ip.is_unspecified())
        }

        /// The connected stream, its error queue turned off again (this also empties it),
        /// so that ICMP errors keep their default, soft meaning on the connection.
        pub(crate) fn into_stream(self) -> TcpStream {
            if self.watched {
                if let Err(error) = set_recverr(self.stream.as_raw_fd(), self.v6, false) {
                    tracing::debug!(%error, "Cannot turn the socket error queue off");
                }
            }
            self.stream
        }
    }

    fn set_recverr(fd: RawFd, v6: bool, on: bool) -> io::Result<()> {
        let (level, name) = if v6 {
            (libc::SOL_IPV6, libc::IPV6_RECVERR)
        } else {
            (libc::SOL_IP, libc::IP_RECVERR)
        };
        let value: libc::c_int = on.into();
        // SAFETY: `fd` is an open socket borrowed from its owner for the duration of the
        // call; the option value is a c_int that lives across the call and its size is passed.
        let result = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Reads one entry of the error queue without blocking: `Ok(None)` for an entry that
    /// is not an ICMP error, `Err` when the queue is empty (EAGAIN) or cannot be read.
    fn read_one(fd: RawFd) -> io::Result<Option<IcmpError>> {
        // The packet that drew the error (the TCP header); only its presence matters.
        let mut data = [0u8; 64];
        // Room for one cmsg with a sock_extended_err and a sockaddr_in6, 8-byte aligned.
        let mut control = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: msghdr is a plain C struct for which all-zero bytes are a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `fd` is an open socket; `msg` points at `iov`, `data` and `control`, which
        // outlive the call, with their true lengths, so the kernel writes only into them.
        let received =
            unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        let control_len = (msg.msg_controllen as usize).min(std::mem::size_of_val(&control));
        let control_bytes: &[u8] =
            // SAFETY: `control` is a live, initialised array of at least `control_len` bytes.
            unsafe { std::slice::from_raw_parts(control.as_ptr().cast(), control_len) };
        Ok(parse_control(control_bytes))
    }

    /// Finds the extended error in the control messages, by walking the cmsg headers in the
    /// byte buffer with explicit bounds checks rather than pointer arithmetic.
    fn parse_control(control: &[u8]) -> Option<IcmpError> {
        let header_len = std::mem::size_of::<libc::cmsghdr>();
        // SAFETY: CMSG_LEN only computes a length from its argument.
        let data_offset = unsafe { libc::CMSG_LEN(0) } as usize;
        let mut offset = 0;
        while offset + header_len <= control.len() {
            // SAFETY: the bounds check above keeps the read inside `control`;
            // read_unaligned copes with any alignment.
            let header: libc::cmsghdr =
                unsafe { std::ptr::read_unaligned(control[offset..].as_ptr().cast()) };
            let len = header.cmsg_len as usize;
            if len < data_offset || offset + len > control.len() {
                return None;
            }
            let data = &control[offset + data_offset..offset + len];
            let is_recverr = (header.cmsg_level == libc::SOL_IP
                && header.cmsg_type == libc::IP_RECVERR)
                || (header.cmsg_level == libc::SOL_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
            if is_recverr {
                return parse_extended_err(data);
            }
            // Headers are padded to the size of a long.
            let align = std::mem::size_of::<libc::c_long>();
            offset += len.div_ceil(align) * align;
        }
        None
    }

    /// A `sock_extended_err` and, after it, the offender's address (`SO_EE_OFFENDER`).
    fn parse_extended_err(data: &[u8]) -> Option<IcmpError> {
        let ee_len = std::mem::size_of::<libc::sock_extended_err>();
        if data.len() < ee_len {
            return None;
        }
        // SAFETY: `data` holds at least size_of::<sock_extended_err>() bytes (checked above);
        // the struct is plain integers, valid for any bytes.
        let ee: libc::sock_extended_err = unsafe { std::ptr::read_unaligned(data.as_ptr().cast()) };
        let v6 = match ee.ee_origin {
            libc::SO_EE_ORIGIN_ICMP => false,
            libc::SO_EE_ORIGIN_ICMP6 => true,
            _ => return None,
        };
        Some(IcmpError {
            v6,
            icmp_type: ee.ee_type,
            code: ee.ee_code,
            sender: offender(&data[ee_len..]),
        })
    }

    /// The sockaddr that follows the extended error (AF_UNSPEC when the kernel has none).
    fn offender(bytes: &[u8]) -> Option<IpAddr> {
        let family_len = std::mem::size_of::<libc::sa_family_t>();
        let family = libc::sa_family_t::from_ne_bytes(bytes.get(..family_len)?.try_into().ok()?);
        match libc::c_int::from(family) {
            libc::AF_INET if bytes.len() >= std::mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the length check above keeps the read inside `bytes`; sockaddr_in
                // is plain integers, valid for any bytes.
                let sin: libc::sockaddr_in =
                    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 if bytes.len() >= std::mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6: libc::sockaddr_in6 =
                    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn cmsg(level: libc::c_int, kind: libc::c_int, payload: &[u8]) -> Vec<u8> {
            // SAFETY: CMSG_LEN / CMSG_SPACE only compute lengths.
            let (len, space) = unsafe {
                (
                    libc::CMSG_LEN(payload.len() as u32) as usize,
                    libc::CMSG_SPACE(payload.len() as u32) as usize,
                )
            };
            let mut out = vec![0u8; space];
            // SAFETY: a zeroed cmsghdr is valid; the fields are then set.
            let mut header: libc::cmsghdr = unsafe { std::mem::zeroed() };
            header.cmsg_len = len as _;
            header.cmsg_level = level;
            header.cmsg_type = kind;
            let header_len = std::mem::size_of::<libc::cmsghdr>();
            // SAFETY: `out` has room for the header (space >= len >= header_len).
            unsafe { std::ptr::write_unaligned(out.as_mut_ptr().cast(), header) };
            // SAFETY: CMSG_LEN only computes a length.
            let data_offset = unsafe { libc::CMSG_LEN(0) } as usize;
            assert!(data_offset >= header_len);
            out[data_offset..data_offset + payload.len()].copy_from_slice(payload);
            out
        }

        fn extended_err(origin: u8, icmp_type: u8, code: u8, sender: Ipv4Addr) -> Vec<u8> {
            let ee = libc::sock_extended_err {
                ee_errno: libc::EHOSTUNREACH as u32,
                ee_origin: origin,
                ee_type: icmp_type,
                ee_code: code,
                ee_pad: 0,
                ee_info: 0,
                ee_data: 0,
            };
            // SAFETY: a zeroed sockaddr_in is valid; the fields are then set.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from(sender).to_be();
            let mut out = vec![0u8; std::mem::size_of_val(&ee) + std::mem::size_of_val(&sin)];
            // SAFETY: `out` is exactly large enough for both structs, written unaligned.
            unsafe {
                std::ptr::write_unaligned(out.as_mut_ptr().cast(), ee);
                std::ptr::write_unaligned(
                    out[std::mem::size_of_val(&ee)..].as_mut_ptr().cast(),
                    sin,
                );
            }
            out
        }

        #[test]
        fn parses_an_icmp_error_and_its_sender() {
            let router = Ipv4Addr::new(192, 0, 2, 1);
            let control = cmsg(
                libc::SOL_IP,
                libc::IP_RECVERR,
                &extended_err(libc::SO_EE_ORIGIN_ICMP, 3, 13, router),
            );
            assert_eq!(
                parse_control(&control),
                Some(IcmpError {
                    v6: false,
                    icmp_type: 3,
                    code: 13,
                    sender: Some(IpAddr::V4(router)),
                })
            );
        }

        #[test]
        fn ignores_local_errors_other_messages_and_truncation() {
            let router = Ipv4Addr::new(192, 0, 2, 1);
            let local = extended_err(1, 0, 0, router); // SO_EE_ORIGIN_LOCAL
            assert_eq!(
                parse_control(&cmsg(libc::SOL_IP, libc::IP_RECVERR, &local)),
                None
            );
            let icmp = extended_err(libc::SO_EE_ORIGIN_ICMP, 3, 1, router);
            assert_eq!(
                parse_control(&cmsg(libc::SOL_IP, libc::IP_TTL, &icmp)),
                None
            );
            let whole = cmsg(libc::SOL_IP, libc::IP_RECVERR, &icmp);
            for cut in 0..whole.len() {
                // Never a panic or an out-of-bounds read, whatever the length.
                let _ = parse_control(&whole[..cut]);
            }
            assert_eq!(parse_control(&[]), None);
        }
    }
}

/// Without an error queue (not Linux) the connect's errno is all there is.
#[cfg(test)]
mod tests {
    use super::*;

    fn icmp(v6: bool, icmp_type: u8, code: u8) -> IcmpError {
        IcmpError {
            v6,
            icmp_type,
            code,
            sender: None,
        }
    }

    #[test]
    fn names_types_and_codes_in_words_and_numbers() {
        assert_eq!(
            icmp(false, 3, 13).describe(),
            "administratively prohibited (ICMP type 3 code 13)"
        );
        assert_eq!(
            icmp(true, 1, 1).describe(),
            "administratively prohibited (ICMPv6 type 1 code 1)"
        );
        assert_eq!(
            icmp(false, 3, 3).describe(),
            "port unreachable (ICMP type 3 code 3)"
        );
        assert_eq!(icmp(false, 3, 99).words(), "destination unreachable");
        assert_eq!(icmp(false, 42, 0).words(), "unexpected ICMP error");
    }

    #[test]
    fn classifies_what_the_error_says_about_the_path() {
        for (v6, t, c, meaning) in [
            (false, 3, 0, Meaning::NetUnreachable),
            (false, 3, 1, Meaning::HostUnreachable),
            (false, 3, 3, Meaning::PortUnreachable),
            (false, 3, 10, Meaning::Prohibited),
            (false, 3, 13, Meaning::Prohibited),
            (false, 11, 0, Meaning::TimeExceeded),
            (false, 3, 4, Meaning::Other),
            (true, 1, 0, Meaning::NetUnreachable),
            (true, 1, 1, Meaning::Prohibited),
            (true, 1, 3, Meaning::HostUnreachable),
            (true, 1, 4, Meaning::PortUnreachable),
            (true, 1, 6, Meaning::Prohibited),
        ] {
            assert_eq!(icmp(v6, t, c).meaning(), meaning, "{v6} {t} {c}");
        }
    }
}
