//! The x224 stage: X.224 Connection Request / Confirm and security negotiation.

use ironrdp_connector::{ClientConnector, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::nego::{ConnectionConfirm, ResponseFlags, SecurityProtocol};
use ironrdp_pdu::x224::X224;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::io::{io_failure, within};
use super::{protocol_names, Facts, Failure, ProbeOptions, Recorder, Stop};
use crate::diagnosis::{codes, Code};
use crate::report::Negotiation;
use crate::{FailureKind, Stage};

const TPKT_HEADER_LEN: usize = 4;
/// The smallest valid Connection Confirm (TPKT + X.224 CC without RDP_NEG_RSP).
const MIN_CONFIRM_LEN: usize = 11;

/// Sends the Connection Request, reads and classifies the Confirm, and returns the
/// selected protocol (empty = Standard RDP Security).
pub(crate) async fn negotiate<S>(
    mut tcp: S,
    connector: &mut ClientConnector,
    options: &ProbeOptions,
    rec: &mut Recorder,
    facts: &mut Facts,
) -> Result<(S, SecurityProtocol), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    rec.enter(Stage::X224).map_err(Stop::Reached)?;
    let requested = options.security.protocol();
    let mut buf = WriteBuf::new();
    let written = connector
        .initiate_with_security_protocol(requested, &mut buf)
        .map_err(|e| {
            Failure::new(
                Stage::X224,
                FailureKind::Internal,
                format!("encode connection request: {e}"),
            )
        })?;
    let request_len = written.size().unwrap_or(0);
    within(
        rec,
        Stage::X224,
        "sending the X.224 Connection Request",
        tcp.write_all(&buf[..request_len]),
    )
    .await?
    .map_err(|e| ended_before_answer(&e))?;

    let mut negotiation = offered(requested);
    let frame = within(
        rec,
        Stage::X224,
        "the X.224 Connection Confirm",
        read_tpkt(&mut tcp),
    )
    .await?;
    let (frame, extra) = match frame {
        Ok(frame) => frame,
        Err(failure) => {
            facts.negotiation = Some(negotiation);
            return Err(failure.into());
        }
    };

    let result = interpret(&frame, &extra, requested, &mut negotiation);
    if let Some(detail) = describe(&negotiation) {
        rec.detail(Stage::X224, detail);
    }
    facts.negotiation = Some(negotiation);
    let selected = result?;

    let mut out = WriteBuf::new();
    connector.step(&frame, None, &mut out).map_err(|e| {
        Failure::new(
            Stage::X224,
            FailureKind::ProtocolError,
            format!("connection confirm: {e}"),
        )
    })?;
    Ok((tcp, selected))
}

/// The negotiation facts before the server has answered an offer of `requested`.
pub(crate) fn offered(requested: SecurityProtocol) -> Negotiation {
    Negotiation {
        requested: protocol_names(requested),
        requested_raw: requested.bits(),
        selected: None,
        selected_raw: None,
        response_flags: Vec::new(),
        response_flags_raw: None,
        negotiation_data_present: false,
        failure_code: None,
        failure_name: None,
    }
}

/// Interprets a Connection Confirm (`frame`, and the bytes that came after it), filling in
/// `negotiation`; returns the selected protocol or the failure. Pure: the fuzz target and the
/// property tests call it with arbitrary bytes.
pub(crate) fn interpret(
    frame: &[u8],
    extra: &[u8],
    requested: SecurityProtocol,
    negotiation: &mut Negotiation,
) -> Result<SecurityProtocol, Failure> {
    let decoded = ironrdp_core::decode::<X224<ConnectionConfirm>>(frame).map(|pdu| pdu.0);
    negotiation.negotiation_data_present = frame.len() > MIN_CONFIRM_LEN;
    let selected = match decoded {
        Err(e) => Err(Failure::new(
            Stage::X224,
            FailureKind::ProtocolError,
            format!("invalid X.224 Connection Confirm: {e}"),
        )),
        Ok(ConnectionConfirm::Failure { code }) => {
            let code = u32::from(code);
            let info = codes::neg_failure(code);
            let name = info.map_or("UNKNOWN", |i| i.name);
            negotiation.failure_code = Some(code);
            negotiation.failure_name = Some(name.to_owned());
            let mut failure = Failure::new(
                Stage::X224,
                FailureKind::NegotiationFailure,
                format!(
                    "{} (RDP_NEG_FAILURE {code} {name})",
                    info.map_or(
                        "the server refused the negotiation with an unknown code",
                        |i| i.meaning
                    )
                ),
            );
            failure.0.code = Some(Code::NegFailure(code));
            Err(failure)
        }
        Ok(ConnectionConfirm::Response { flags, protocol }) => {
            negotiation.selected = Some(protocol_names(protocol).join(","));
            negotiation.selected_raw = Some(protocol.bits());
            negotiation.response_flags = flag_names(flags);
            negotiation.response_flags_raw = Some(flags.bits());
            check_selection(requested, protocol, negotiation.negotiation_data_present)
        }
    };
    let selected = selected?;
    if !extra.is_empty() {
        // Nothing may follow a successful Confirm before the client speaks again (TLS
        // ClientHello or MCS Connect Initial). After a failure, servers such as xrdp
        // follow up with a disconnect; that case returned above.
        return Err(Failure::new(
            Stage::X224,
            FailureKind::ProtocolError,
            format!(
                "the server sent {} unexpected bytes after the X.224 Connection Confirm: {}",
                extra.len(),
                hex::encode(&extra[..extra.len().min(16)])
            ),
        ));
    }
    Ok(selected)
}

/// The x224 detail line for what the Confirm said, if it was one.
fn describe(negotiation: &Negotiation) -> Option<String> {
    let requested = negotiation.requested.join(",");
    if let (Some(code), Some(name)) = (negotiation.failure_code, &negotiation.failure_name) {
        return Some(format!(
            "requested {requested}; RDP_NEG_FAILURE {code} {name}"
        ));
    }
    let selected = negotiation.selected.as_deref()?;
    Some(if negotiation.negotiation_data_present {
        let flags = if negotiation.response_flags.is_empty() {
            "none".to_owned()
        } else {
            negotiation.response_flags.join("|")
        };
        format!("requested {requested}; selected {selected}; flags {flags}")
    } else {
        format!("requested {requested}; no RDP_NEG_RSP (legacy server: Standard RDP Security only)")
    })
}

/// Checks the server's choice against the offer.
fn check_selection(
    requested: SecurityProtocol,
    selected: SecurityProtocol,
    nego_present: bool,
) -> Result<SecurityProtocol, Failure> {
    let unsupported = |message: String| {
        Err(Failure::new(
            Stage::X224,
            FailureKind::UnsupportedSecurity,
            message,
        ))
    };
    if selected.is_empty() {
        if !requested.is_empty() {
            let how = if nego_present {
                "the server selected Standard RDP Security (PROTOCOL_RDP)"
            } else {
                "the server answered without RDP_NEG_RSP, so it supports only Standard RDP Security"
            };
            return unsupported(format!(
                "{how} although the client offered {}; enable TLS or NLA on the server's RDP listener (Security Layer)",
                protocol_names(requested).join(",")
            ));
        }
        return Ok(selected);
    }
    let single = selected.bits().count_ones() == 1;
    if !single || !requested.contains(selected) {
        return unsupported(format!(
            "the server selected {} which the client did not offer ({})",
            protocol_names(selected).join(","),
            protocol_names(requested).join(",")
        ));
    }
    if selected.intersects(SecurityProtocol::RDSTLS | SecurityProtocol::RDSAAD) {
        return unsupported(format!(
            "the server selected {}, which rdpscope does not implement",
            protocol_names(selected).join(",")
        ));
    }
    Ok(selected)
}

const CLOSED_WITHOUT_ANSWER: &str =
    "the server closed the connection without answering the X.224 Connection Request";

/// The failure when the server ends the connection before the first byte of its answer.
///
/// One verdict whether the client sees a FIN or a RST (see [`FailureKind::ClosedByPeer`]),
/// and whether it sees it when the connect returns, while sending the Connection Request or
/// while waiting for the Confirm: which it is depends on timing, not on the server.
pub(crate) fn ended_before_answer(error: &std::io::Error) -> Failure {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => {
            tracing::debug!(%error, "The server ended the connection before the Confirm");
            Failure::new(
                Stage::X224,
                FailureKind::ClosedByPeer,
                CLOSED_WITHOUT_ANSWER,
            )
        }
        _ => io_failure(
            Stage::X224,
            error,
            "before answering the X.224 Connection Request",
        ),
    }
}

/// A Connection Confirm frame and the bytes that came after it, or why there is none.
pub(crate) type Framed = Result<(Vec<u8>, Vec<u8>), Failure>;

/// Reads one TPKT frame from the raw socket, recognising servers that are not RDP.
///
/// Returns the frame and any bytes that arrived after it in the same reads.
async fn read_tpkt<S: AsyncRead + Unpin>(tcp: &mut S) -> Framed {
    let mut received = Vec::with_capacity(64);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(framed) = split_confirm(&received, false) {
            return framed;
        }
        let n = match tcp.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if received.is_empty() => return Err(ended_before_answer(&e)),
            Err(e) => {
                return Err(io_failure(
                    Stage::X224,
                    &e,
                    "while sending the X.224 Connection Confirm",
                ));
            }
        };
        if n == 0 {
            return split_confirm(&received, true).unwrap_or_else(|| {
                Err(Failure::new(
                    Stage::X224,
                    FailureKind::ProtocolError,
                    "the connection closed in the middle of the X.224 Connection Confirm",
                ))
            });
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

/// What the bytes received so far amount to: `None` while a TPKT frame is incomplete and
/// the connection open; else the frame and the bytes after it, or why they are not one
/// (not RDP, a bad or truncated TPKT, nothing at all). `closed`: the server closed the
/// connection after these bytes. Pure, for the fuzz target and the property tests.
pub(crate) fn split_confirm(received: &[u8], closed: bool) -> Option<Framed> {
    if received.len() >= 2 {
        if let Some(foreign) = foreign_bytes(received) {
            return Some(Err(Failure::new(Stage::X224, FailureKind::NotRdp, foreign)));
        }
    }
    if received.len() >= TPKT_HEADER_LEN {
        let length = usize::from(u16::from_be_bytes([received[2], received[3]]));
        if length < MIN_CONFIRM_LEN {
            return Some(Err(Failure::new(
                Stage::X224,
                FailureKind::ProtocolError,
                format!("invalid TPKT length {length} in the X.224 Connection Confirm"),
            )));
        }
        if received.len() >= length {
            let (frame, extra) = received.split_at(length);
            return Some(Ok((frame.to_vec(), extra.to_vec())));
        }
    }
    if !closed {
        return None;
    }
    Some(Err(match received.len() {
        0 => Failure::new(
            Stage::X224,
            FailureKind::ClosedByPeer,
            CLOSED_WITHOUT_ANSWER,
        ),
        1 => Failure::new(
            Stage::X224,
            FailureKind::NotRdp,
            format!(
                "the server sent one byte (0x{:02x}) and closed the connection",
                received[0]
            ),
        ),
        got if got < TPKT_HEADER_LEN => Failure::new(
            Stage::X224,
            FailureKind::ProtocolError,
            format!("truncated TPKT header: {got} of 4 bytes, then the connection closed"),
        ),
        got => Failure::new(
            Stage::X224,
            FailureKind::ProtocolError,
            format!(
                "truncated TPKT: {got} of {} bytes, then the connection closed",
                u16::from_be_bytes([received[2], received[3]])
            ),
        ),
    }))
}

/// Describes what answered when the first bytes are not a TPKT header, or `None` if they are.
pub(crate) fn foreign_bytes(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 2 || (bytes[0] == 0x03 && bytes[1] == 0x00) {
        return None;
    }
    let first_line = |b: &[u8]| {
        let line = b.split(|&c| c == b'\n').next().unwrap_or(b);
        String::from_utf8_lossy(line)
            .trim()
            .chars()
            .take(80)
            .collect::<String>()
    };
    Some(if bytes.starts_with(b"HTTP/") {
        format!(
            "an HTTP server answered, not RDP: \"{}\"",
            first_line(bytes)
        )
    } else if bytes.starts_with(b"SSH-") {
        format!("an SSH server answered, not RDP: \"{}\"", first_line(bytes))
    } else if bytes[0] == 0x16 && bytes[1] == 0x03 {
        "a TLS server answered with a handshake record: a TLS-first service (HTTPS, an RD Gateway), not RDP's X.224 negotiation".to_owned()
    } else if bytes[0] == 0x15 && bytes[1] == 0x03 {
        "a TLS server answered with an alert: a TLS-first service, not RDP's X.224 negotiation"
            .to_owned()
    } else if bytes[0] == 0x03 {
        format!(
            "bad TPKT header: version 3 but reserved byte 0x{:02x}",
            bytes[1]
        )
    } else if bytes[0] != 0x03 && bytes[0] < 0x20 && bytes[0] != b'\t' {
        format!(
            "bad TPKT header (version {}): the server sent bytes that are not RDP: {}",
            bytes[0],
            hex::encode(&bytes[..bytes.len().min(16)])
        )
    } else if bytes
        .iter()
        .take(32)
        .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        format!(
            "the server answered with text, not RDP: \"{}\"",
            first_line(bytes)
        )
    } else {
        format!(
            "the server sent bytes that are not RDP: {}",
            hex::encode(&bytes[..bytes.len().min(16)])
        )
    })
}

pub(crate) fn flag_names(flags: ResponseFlags) -> Vec<String> {
    let table = [
        (
            ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED,
            "EXTENDED_CLIENT_DATA_SUPPORTED",
        ),
        (
            ResponseFlags::DYNVC_GFX_PROTOCOL_SUPPORTED,
            "DYNVC_GFX_PROTOCOL_SUPPORTED",
        ),
        (ResponseFlags::RDP_NEG_RSP_RESERVED, "NEGRSP_FLAG_RESERVED"),
        (
            ResponseFlags::RESTRICTED_ADMIN_MODE_SUPPORTED,
            "RESTRICTED_ADMIN_MODE_SUPPORTED",
        ),
        (
            ResponseFlags::REDIRECTED_AUTHENTICATION_MODE_SUPPORTED,
            "REDIRECTED_AUTHENTICATION_MODE_SUPPORTED",
        ),
    ];
    table
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| (*name).to_owned())
        .collect()
}
