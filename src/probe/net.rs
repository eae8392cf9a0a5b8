//! The dns and tcp stages.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use super::icmp::{self, IcmpError, Meaning};
use super::io::io_failure;
use super::{Facts, Failure, Recorder, Stop};
use crate::target::Target;
use crate::{FailureKind, Stage};

/// Resolves the target (the dns stage; skipped for address literals).
pub(crate) async fn resolve(target: &Target, rec: &mut Recorder) -> Result<Vec<SocketAddr>, Stop> {
    if let Some(ip) = target.ip() {
        rec.skip(Stage::Dns, "address literal, no lookup")
            .map_err(Stop::Reached)?;
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    rec.enter(Stage::Dns).map_err(Stop::Reached)?;
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addresses: Vec<SocketAddr> = super::io::within(rec, Stage::Dns, "name resolution", lookup)
        .await?
        .map_err(|e| {
            Failure::new(
                Stage::Dns,
                FailureKind::DnsFailure,
                format!("cannot resolve `{}`: {e}", target.host),
            )
        })?
        .collect();
    if addresses.is_empty() {
        return Err(Failure::new(
            Stage::Dns,
            FailureKind::DnsFailure,
            format!("`{}` resolves to no address", target.host),
        )
        .into());
    }
    let list: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    rec.detail(
        Stage::Dns,
        format!("{} -> {}", target.host, list.join(", ")),
    );
    Ok(addresses)
}

/// How the tcp stage ended when an address accepted the connection.
pub(crate) enum Connected {
    /// The connection to this address is established, with TCP_NODELAY set.
    Stream(TcpStream, SocketAddr),
    /// The handshake completed, but the server had already ended the connection when the
    /// connect returned: the socket's pending error was a reset (ECONNRESET) or a reset
    /// after a FIN (EPIPE). That is the next stage's failure, not the tcp stage's: a RST to
    /// the SYN is ECONNREFUSED.
    EndedAtOnce(io::Error),
}

/// Whether a connect error means the handshake completed and the server then ended the
/// connection (rather than the handshake failing).
fn ended_after_handshake(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Connects to the first address that accepts (the tcp stage).
///
/// Each failure says how the connection was blocked: no answer at all (a firewall drops the
/// SYN, or the host is down), a TCP reset (nothing listens, or a firewall rejects with a
/// reset), or an ICMP error, named with its type, code and sender where the system tells
/// them (Linux), or the local routing table's refusal.
pub(crate) async fn connect(
    addresses: &[SocketAddr],
    connect_timeout: Duration,
    rec: &mut Recorder,
    facts: &mut Facts,
) -> Result<Connected, Stop> {
    rec.enter(Stage::Tcp).map_err(Stop::Reached)?;
    // One deadline for the whole stage, however many addresses the name has.
    let deadline = tokio::time::Instant::now() + connect_timeout;
    let mut failures: Vec<Failure> = Vec::new();
    for &address in addresses {
        let failure = match attempt(address, deadline).await {
            Attempt::Connected(stream) => {
                stream
                    .set_nodelay(true)
                    .map_err(|e| io_failure(Stage::Tcp, &e, "setting TCP_NODELAY"))?;
                facts.address = Some(address.to_string());
                rec.detail(Stage::Tcp, format!("connected to {address}"));
                return Ok(Connected::Stream(stream, address));
            }
            Attempt::Failed(answer)
                if answer.icmp.is_none()
                    && answer.error.as_ref().is_some_and(ended_after_handshake) =>
            {
                facts.address = Some(address.to_string());
                rec.detail(
                    Stage::Tcp,
                    format!("connected to {address}; the server ended the connection at once"),
                );
                let error = answer
                    .error
                    .unwrap_or_else(|| io::ErrorKind::ConnectionReset.into());
                return Ok(Connected::EndedAtOnce(error));
            }
            Attempt::Failed(answer) => classify(address, &answer, connect_timeout),
            Attempt::NoSocket(e) => Failure::new(
                Stage::Tcp,
                FailureKind::Internal,
                format!("cannot create a socket for {address}: {e}"),
            ),
        };
        let timed_out = failure.0.kind == FailureKind::Timeout;
        failures.push(failure);
        if timed_out {
            break;
        }
    }
    let mut last = failures.pop().unwrap_or_else(|| {
        Failure::new(
            Stage::Tcp,
            FailureKind::Internal,
            "no address to connect to",
        )
    });
    if !failures.is_empty() {
        let earlier: Vec<&str> = failures.iter().map(|f| f.0.message.as_str()).collect();
        last.0.message = format!("{}; earlier: {}", last.0.message, earlier.join("; "));
    }
    Err(last.into())
}

/// The end of one connection attempt.
enum Attempt {
    Connected(TcpStream),
    Failed(Answer),
    /// No socket could be created (a local problem).
    NoSocket(io::Error),
}

/// Everything known about a failed connection attempt.
struct Answer {
    /// The connect's error; `None` when the deadline passed first, or an ICMP error
    /// ended the wait.
    error: Option<io::Error>,
    /// The ICMP error the socket received, from its error queue.
    icmp: Option<IcmpError>,
    /// The local address of the attempt, to recognise ICMP errors this machine sent.
    local: Option<IpAddr>,
    /// Whether the error queue was watched: then an errno without an ICMP error means
    /// that no ICMP error arrived, so this machine itself refused to send.
    watched: bool,
}

/// Connects to one address until `deadline`, watching the socket's error queue.
#[cfg(target_os = "linux")]
async fn attempt(address: SocketAddr, deadline: tokio::time::Instant) -> Attempt {
    let mut connecting = match icmp::Connecting::start(address) {
        Ok(connecting) => connecting,
        Err(e) => return Attempt::NoSocket(e),
    };
    let outcome = tokio::time::timeout_at(deadline, connecting.wait()).await;
    let (error, icmp) = match outcome {
        Ok(Ok(())) => return Attempt::Connected(connecting.into_stream()),
        Ok(Err(icmp::Ended::Error(error))) => (Some(error), connecting.take()),
        Ok(Err(icmp::Ended::Icmp(icmp))) => (None, Some(icmp)),
        Err(_) => (None, connecting.take()),
    };
    Attempt::Failed(Answer {
        error,
        icmp,
        local: connecting.local_ip(),
        watched: connecting.watched(),
    })
}

/// Connects to one address until `deadline` (no error queue on this system).
#[cfg(not(target_os = "linux"))]
async fn attempt(address: SocketAddr, deadline: tokio::time::Instant) -> Attempt {
    let socket = match if address.is_ipv6() {
        tokio::net::TcpSocket::new_v6()
    } else {
        tokio::net::TcpSocket::new_v4()
    } {
        Ok(socket) => socket,
        Err(e) => return Attempt::NoSocket(e),
    };
    let error = match tokio::time::timeout_at(deadline, socket.connect(address)).await {
        Ok(Ok(stream)) => return Attempt::Connected(stream),
        Ok(Err(error)) => Some(error),
        Err(_) => None,
    };
    Attempt::Failed(Answer {
        error,
        icmp: None,
        local: None,
        watched: false,
    })
}

/// Seconds as a user writes them: `1`, `0.5`.
fn seconds(duration: Duration) -> String {
    duration.as_secs_f64().to_string()
}

/// The failure of one connection attempt.
fn classify(address: SocketAddr, answer: &Answer, connect_timeout: Duration) -> Failure {
    if let Some(icmp) = &answer.icmp {
        return unreachable_by_icmp(address, icmp, answer.local);
    }
    let Some(error) = &answer.error else {
        return filtered(address, connect_timeout);
    };
    let unreachable = |message: String| Failure::new(Stage::Tcp, FailureKind::Unreachable, message);
    // With the error queue watched, an errno without a queued ICMP error was made here.
    let local = answer.watched;
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Failure::new(
            Stage::Tcp,
            FailureKind::Refused,
            format!(
                "connection refused by {address}: nothing listens on the port, or a firewall rejects it"
            ),
        ),
        // The system gave up retrying the SYN before the connect timeout did.
        io::ErrorKind::TimedOut => filtered(address, connect_timeout),
        io::ErrorKind::NetworkUnreachable if local => unreachable(format!(
            "{address} is unreachable: this machine has no route to its network (network unreachable); check the address, the VPN connection and the default gateway"
        )),
        io::ErrorKind::NetworkUnreachable => unreachable(format!(
            "{address} is unreachable: no route to its network (network unreachable), from this machine or a router on the path"
        )),
        io::ErrorKind::HostUnreachable if local => unreachable(format!(
            "{address} is unreachable: this machine's routing refuses it (host unreachable); check the routes to it"
        )),
        io::ErrorKind::HostUnreachable => unreachable(format!(
            "{address} is unreachable: no route to the host (host unreachable): a router or a firewall on the path answered that it cannot reach the host, or the host is down"
        )),
        io::ErrorKind::PermissionDenied if local => unreachable(format!(
            "{address} is unreachable: this machine does not let the connection out (permission denied): a local firewall rule or a prohibit route"
        )),
        io::ErrorKind::PermissionDenied => unreachable(format!(
            "{address} is unreachable: the connection is administratively prohibited (permission denied): a firewall on this machine or on the path rejects it"
        )),
        _ => match errno_unreachable(error) {
            Some(words) => unreachable(format!(
                "{address} is unreachable: {words}: a router or a firewall on the path answered that the host cannot be reached"
            )),
            None => io_failure(Stage::Tcp, error, &format!("by {address}")),
        },
    }
}

/// The errnos of ICMP errors that std has no error kind for.
fn errno_unreachable(error: &io::Error) -> Option<&'static str> {
    #[cfg(target_os = "linux")]
    {
        match error.raw_os_error()? {
            libc::EHOSTDOWN => Some("the host is down (EHOSTDOWN)"),
            libc::ENONET => Some("the host is not on the network (ENONET)"),
            _ => None,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = error;
        None
    }
}

/// No answer at all: the SYN went unanswered until the deadline.
fn filtered(address: SocketAddr, connect_timeout: Duration) -> Failure {
    Failure::new(
        Stage::Tcp,
        FailureKind::Timeout,
        format!(
            "filtered: no answer from {address} within {} s: a firewall drops the packets or the host is down",
            seconds(connect_timeout)
        ),
    )
}

/// An ICMP error answered the SYN: say what it means, who sent it, and who most likely
/// made it send it.
fn unreachable_by_icmp(address: SocketAddr, icmp: &IcmpError, local: Option<IpAddr>) -> Failure {
    enum Sender {
        Target,
        ThisMachine,
        Router,
    }
    let sender = match icmp.sender {
        Some(ip) if ip == address.ip() => Sender::Target,
        Some(ip) if Some(ip) == local => Sender::ThisMachine,
        _ => Sender::Router,
    };
    let who = match (&sender, icmp.sender) {
        (Sender::Target, Some(ip)) => format!("the target itself ({ip})"),
        (Sender::ThisMachine, Some(ip)) => format!("this machine ({ip})"),
        (_, Some(ip)) => format!("{ip}, a router on the path,"),
        (_, None) => "a router on the path".to_owned(),
    };
    const PORT_UNREACHABLE: &str = "(a host answers a closed TCP port with a reset, so an ICMP port unreachable for TCP comes from a firewall; it is iptables' REJECT default)";
    let why = match (sender, icmp.meaning()) {
        (Sender::Target, Meaning::PortUnreachable) => {
            format!("a firewall on the host rejects the connection {PORT_UNREACHABLE}")
        }
        (Sender::Target, _) => "a firewall on the host rejects the connection".to_owned(),
        (Sender::ThisMachine, _) => {
            "this machine cannot deliver the packets: the next hop or the host does not answer ARP / neighbour discovery, or a local firewall rule rejects the connection".to_owned()
        }
        (Sender::Router, Meaning::Prohibited) => {
            "a firewall there rejects the connection".to_owned()
        }
        (Sender::Router, Meaning::PortUnreachable) => {
            format!("a firewall there rejects the connection {PORT_UNREACHABLE}")
        }
        (Sender::Router, Meaning::HostUnreachable) => {
            "a firewall there rejects the connection, or the router cannot reach the host (down, or not answering ARP / neighbour discovery)".to_owned()
        }
        (Sender::Router, Meaning::NetUnreachable) => {
            "a firewall there rejects the connection, or the router has no route to the target's network".to_owned()
        }
        (Sender::Router, Meaning::TimeExceeded) => {
            "the packets loop between routers, or the path is longer than their time to live".to_owned()
        }
        (Sender::Router, Meaning::Other) => {
            "the path does not deliver the connection; a firewall there may reject it".to_owned()
        }
    };
    Failure::new(
        Stage::Tcp,
        FailureKind::Unreachable,
        format!(
            "{address} is unreachable: {who} answered {}: {why}",
            icmp.describe()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "198.51.100.2:3389";

    fn icmp(v6: bool, icmp_type: u8, code: u8, sender: &str) -> IcmpError {
        IcmpError {
            v6,
            icmp_type,
            code,
            sender: Some(sender.parse().expect("ip")),
        }
    }

    fn message(answer: &Answer) -> (FailureKind, String) {
        let failure = classify(
            TARGET.parse().expect("addr"),
            answer,
            Duration::from_millis(1500),
        );
        assert_eq!(failure.0.stage, Stage::Tcp);
        (failure.0.kind, failure.0.message.clone())
    }

    fn answer(error: Option<io::Error>, icmp: Option<IcmpError>, watched: bool) -> Answer {
        Answer {
            error,
            icmp,
            local: Some("192.0.2.2".parse().expect("ip")),
            watched,
        }
    }

    #[test]
    fn an_icmp_error_names_its_meaning_and_whether_the_target_or_a_router_sent_it() {
        let refused = || Some(io::Error::from(io::ErrorKind::ConnectionRefused));
        let (kind, text) = message(&answer(
            refused(),
            Some(icmp(false, 3, 3, "192.0.2.1")),
            true,
        ));
        assert_eq!(kind, FailureKind::Unreachable);
        assert_eq!(
            text,
            "198.51.100.2:3389 is unreachable: 192.0.2.1, a router on the path, answered port unreachable (ICMP type 3 code 3): a firewall there rejects the connection (a host answers a closed TCP port with a reset, so an ICMP port unreachable for TCP comes from a firewall; it is iptables' REJECT default)"
        );
        let (_, text) = message(&answer(
            None,
            Some(icmp(false, 3, 13, "198.51.100.2")),
            true,
        ));
        assert_eq!(
            text,
            "198.51.100.2:3389 is unreachable: the target itself (198.51.100.2) answered administratively prohibited (ICMP type 3 code 13): a firewall on the host rejects the connection"
        );
        let (_, text) = message(&answer(None, Some(icmp(false, 3, 1, "192.0.2.2")), true));
        assert!(
            text.contains("this machine (192.0.2.2) answered host unreachable"),
            "{text}"
        );
    }

    #[test]
    fn errnos_without_an_icmp_error_are_classified_too() {
        let cases = [
            (
                io::ErrorKind::ConnectionRefused,
                true,
                FailureKind::Refused,
                "connection refused by 198.51.100.2:3389",
            ),
            (
                io::ErrorKind::NetworkUnreachable,
                true,
                FailureKind::Unreachable,
                "this machine has no route to its network",
            ),
            (
                io::ErrorKind::NetworkUnreachable,
                false,
                FailureKind::Unreachable,
                "from this machine or a router on the path",
            ),
            (
                io::ErrorKind::HostUnreachable,
                false,
                FailureKind::Unreachable,
                "no route to the host (host unreachable)",
            ),
            (
                io::ErrorKind::PermissionDenied,
                true,
                FailureKind::Unreachable,
                "a local firewall rule",
            ),
            (
                io::ErrorKind::TimedOut,
                true,
                FailureKind::Timeout,
                "filtered: no answer from 198.51.100.2:3389 within 1.5 s",
            ),
        ];
        for (errno, watched, kind, needle) in cases {
            let (got, text) = message(&answer(Some(errno.into()), None, watched));
            assert_eq!(got, kind, "{errno:?}: {text}");
            assert!(text.contains(needle), "{errno:?}: {text}");
        }
        #[cfg(target_os = "linux")]
        {
            let (got, text) = message(&answer(
                Some(io::Error::from_raw_os_error(libc::EHOSTDOWN)),
                None,
                false,
            ));
            assert_eq!(got, FailureKind::Unreachable, "{text}");
            assert!(text.contains("the host is down"), "{text}");
        }
    }

    #[test]
    fn no_answer_is_filtered() {
        let (kind, text) = message(&answer(None, None, true));
        assert_eq!(kind, FailureKind::Timeout);
        assert_eq!(
            text,
            "filtered: no answer from 198.51.100.2:3389 within 1.5 s: a firewall drops the packets or the host is down"
        );
        assert_eq!(seconds(Duration::from_secs(1)), "1");
    }
}
