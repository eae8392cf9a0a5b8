//! Cutting a byte stream into PDUs and naming them: TPKT (X.224, MCS and the RDP PDUs
//! inside), TLS records, CredSSP TSRequests, the Early User Authorization Result and
//! fast-path PDUs. Pure functions over bytes a server controls: they never panic and never
//! show a secret (an AUTHENTICATE message or TSCredentials appear as their kind and size).

use std::borrow::Cow;

use ironrdp_connector::sspi::credssp::TsRequest;
use ironrdp_pdu::mcs::McsMessage;
use ironrdp_pdu::nego::ConnectionConfirm;
use ironrdp_pdu::x224::X224;

use super::Layer;
use crate::diagnosis::codes;
use crate::report::Direction;
use crate::{ntlm, Stage, Step};

/// A PDU's name: most are fixed text, some carry a number or a code's name.
pub(crate) type Name = Cow<'static, str>;

/// A PDU's name, and the step it is, if it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) name: Name,
    pub(crate) step: Option<Step>,
    pub(crate) step_detail: Option<String>,
    /// A TLS record whose content only the plaintext layer can name.
    pub(crate) encrypted: bool,
}

impl Named {
    fn new(name: impl Into<Name>) -> Self {
        Self {
            name: name.into(),
            step: None,
            step_detail: None,
            encrypted: false,
        }
    }

    fn step(mut self, step: Step, detail: Option<String>) -> Self {
        self.step = Some(step);
        self.step_detail = detail;
        self
    }
}

/// The length of the PDU at the start of `buf` (possibly more than `buf` holds: wait for
/// the rest), or `None` when it does not start with a PDU this module can frame.
pub(crate) fn length(layer: Layer, stage: Stage, buf: &[u8]) -> Option<usize> {
    let first = *buf.first()?;
    let at = |i: usize| buf.get(i).copied().map(usize::from);
    match first {
        // TPKT: version 3, reserved, 16-bit length (RFC 1006).
        0x03 => {
            let (Some(hi), Some(lo)) = (at(2), at(3)) else {
                return Some(4);
            };
            let len = hi << 8 | lo;
            (len >= 4).then_some(len)
        }
        // A TLS record: type, version 3.x, 16-bit length.
        0x14..=0x17 if layer == Layer::Wire => {
            if at(1).is_some_and(|major| major != 3) {
                return None;
            }
            let (Some(hi), Some(lo)) = (at(3), at(4)) else {
                return Some(5);
            };
            Some(5 + (hi << 8 | lo))
        }
        // A DER SEQUENCE: the TSRequest.
        0x30 if layer == Layer::Plain => {
            let first_len = at(1)?;
            if first_len < 0x80 {
                return Some(2 + first_len);
            }
            let octets = first_len & 0x7F;
            if octets == 0 || octets > 3 {
                return None;
            }
            let mut len = 0;
            for i in 0..octets {
                let Some(b) = at(2 + i) else {
                    return Some(2 + octets);
                };
                len = len << 8 | b;
            }
            Some(2 + octets + len)
        }
        // The Early User Authorization Result: four bytes, the last message of CredSSP.
        _ if layer == Layer::Plain && stage == Stage::Credssp => Some(4),
        // A fast-path PDU: action 0 in the low bits, then a 1- or 2-byte length.
        _ if layer == Layer::Plain && first & 0x03 == 0 => {
            let Some(b1) = at(1) else { return Some(2) };
            if b1 & 0x80 == 0 {
                return (b1 >= 2).then_some(b1);
            }
            let Some(b2) = at(2) else { return Some(3) };
            let len = (b1 & 0x7F) << 8 | b2;
            (len >= 3).then_some(len)
        }
        _ => None,
    }
}

/// The name of one whole PDU (as [`length`] cut it, or unrecognised bytes).
pub(crate) fn name(layer: Layer, direction: Direction, stage: Stage, frame: &[u8]) -> Named {
    if length(layer, stage, frame) != Some(frame.len()) {
        return Named::new(format!("unrecognised bytes ({})", hex_prefix(frame)));
    }
    match frame[0] {
        0x03 => tpkt(frame),
        0x14..=0x17 if layer == Layer::Wire => tls_record(frame),
        0x30 if layer == Layer::Plain => ts_request(frame),
        _ if stage == Stage::Credssp => authorization_result(frame),
        _ => Named::new(match direction {
            Direction::Sent => "fast-path input",
            Direction::Received => "fast-path update",
        }),
    }
}

/// At most the first 8 bytes, in hex.
fn hex_prefix(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(8)];
    let ellipsis = if bytes.len() > shown.len() { "..." } else { "" };
    format!("{}{ellipsis}", hex::encode(shown))
}

fn u16_le(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// X.224 TPDU codes (ITU-T X.224 13.x), in the high nibble of the code byte.
const X224_CONNECTION_REQUEST: u8 = 0xE0;
const X224_CONNECTION_CONFIRM: u8 = 0xD0;
const X224_DISCONNECT_REQUEST: u8 = 0x80;
const X224_DATA: u8 = 0xF0;

fn tpkt(frame: &[u8]) -> Named {
    match frame.get(5).map(|code| code & 0xF0) {
        Some(X224_CONNECTION_REQUEST) => {
            let cookie = frame
                .get(11..)
                .and_then(|rest| rest.strip_prefix(b"Cookie: mstshash="))
                .map(|rest| {
                    let end = rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len());
                    crate::text::escaped(&String::from_utf8_lossy(&rest[..end]))
                });
            let protocols = u32_le(frame, frame.len().saturating_sub(4))
                .filter(|_| frame.len() >= 19 && frame[frame.len() - 8] == 0x01)
                .map(|bits| {
                    let protocol = ironrdp_pdu::nego::SecurityProtocol::from_bits_retain(bits);
                    super::super::protocol_names(protocol).join(",")
                });
            let detail = format!(
                "protocols {}; cookie {}",
                protocols.as_deref().unwrap_or("none (no RDP_NEG_REQ)"),
                cookie.as_deref().unwrap_or("none")
            );
            Named::new("X.224 Connection Request").step(Step::RequestSent, Some(detail))
        }
        Some(X224_CONNECTION_CONFIRM) => {
            let detail = match ironrdp_core::decode::<X224<ConnectionConfirm>>(frame) {
                Ok(X224(ConnectionConfirm::Response { flags, protocol })) => {
                    let flags = super::super::x224::flag_names(flags);
                    format!(
                        "selected {}; flags {}",
                        super::super::protocol_names(protocol).join(","),
                        if flags.is_empty() {
                            "none".to_owned()
                        } else {
                            flags.join("|")
                        }
                    )
                }
                Ok(X224(ConnectionConfirm::Failure { code })) => {
                    let code = u32::from(code);
                    format!(
                        "RDP_NEG_FAILURE {code} {}",
                        codes::neg_failure(code).map_or("UNKNOWN", |c| c.name)
                    )
                }
                Err(_) => "no RDP_NEG_RSP".to_owned(),
            };
            Named::new("X.224 Connection Confirm").step(Step::ConfirmReceived, Some(detail))
        }
        Some(X224_DISCONNECT_REQUEST) => Named::new("X.224 Disconnect Request"),
        Some(X224_DATA) => Named::new(mcs(frame)),
        _ => Named::new(format!("TPKT ({})", hex_prefix(frame))),
    }
}

/// The name of an MCS PDU in an X.224 Data TPDU.
fn mcs(frame: &[u8]) -> Name {
    // T.125 Connect-Initial / Connect-Response are BER application tags 101 and 102.
    match frame.get(7..9) {
        Some([0x7F, 0x65]) => return "MCS Connect Initial".into(),
        Some([0x7F, 0x66]) => return "MCS Connect Response".into(),
        _ => {}
    }
    match ironrdp_core::decode::<X224<McsMessage<'_>>>(frame) {
        Ok(X224(message)) => match message {
            McsMessage::ErectDomainRequest(_) => "MCS Erect Domain Request".into(),
            McsMessage::AttachUserRequest(_) => "MCS Attach User Request".into(),
            McsMessage::AttachUserConfirm(c) => {
                format!("MCS Attach User Confirm (user channel {})", c.initiator_id).into()
            }
            McsMessage::ChannelJoinRequest(r) => {
                format!("MCS Channel Join Request (channel {})", r.channel_id).into()
            }
            McsMessage::ChannelJoinConfirm(c) => {
                format!("MCS Channel Join Confirm (channel {})", c.channel_id).into()
            }
            McsMessage::SendDataRequest(data) => user_data(&data.user_data, data.channel_id),
            McsMessage::SendDataIndication(data) => user_data(&data.user_data, data.channel_id),
            McsMessage::DisconnectProviderUltimatum(u) => format!(
                "MCS Disconnect Provider Ultimatum ({})",
                codes::disconnect_reason(u.reason as u32).map_or("unknown reason", |c| c.name)
            )
            .into(),
        },
        Err(_) => format!("X.224 Data ({})", hex_prefix(frame)).into(),
    }
}

/// Basic Security Header flags (MS-RDPBCGR 2.2.8.1.1.2.1).
pub(crate) const SEC_EXCHANGE_PKT: u16 = 0x0001;
pub(crate) const SEC_INFO_PKT: u16 = 0x0040;
pub(crate) const SEC_LICENSE_PKT: u16 = 0x0080;
/// Licensing preamble bMsgType ERROR_ALERT, and the dwErrorCode that means "no licensing
/// needed" (MS-RDPBCGR 2.2.1.12.1.3).
pub(crate) const ERROR_ALERT: u8 = 0xFF;
pub(crate) const STATUS_VALID_CLIENT: u32 = 0x7;
/// Share Control Header pduType DATA, and Share Data Header pduType2 Set Error Info.
pub(crate) const PDUTYPE_DATAPDU: u16 = 0x7;
pub(crate) const PDUTYPE2_SET_ERROR_INFO_PDU: u8 = 0x2F;

/// The name of what an MCS Send Data Request / Indication carries.
fn user_data(data: &[u8], channel: u16) -> Name {
    // Under TLS only the Client Info PDU and the licensing PDUs carry a Basic Security
    // Header; a Share Control Header starts with its own length instead.
    if let Some(name) = share_control(data) {
        return name;
    }
    let flags = u16_le(data, 0).unwrap_or(0);
    if flags & SEC_LICENSE_PKT != 0 {
        return license(data);
    }
    if flags & SEC_INFO_PKT != 0 {
        return "Client Info PDU".into();
    }
    if flags & SEC_EXCHANGE_PKT != 0 {
        return "Security Exchange PDU".into();
    }
    format!("channel {channel} data").into()
}

/// A licensing PDU by its bMsgType (MS-RDPBCGR 2.2.1.12.1.1).
fn license(data: &[u8]) -> Name {
    let name = match data.get(4) {
        Some(0x01) => "License Request",
        Some(0x02) => "License Platform Challenge",
        Some(0x03) => "New License",
        Some(0x04) => "Upgrade License",
        Some(0x12) => "License Information",
        Some(0x13) => "New License Request",
        Some(0x15) => "License Platform Challenge Response",
        Some(&ERROR_ALERT) => {
            let code = u32_le(data, 8).unwrap_or(0);
            let name = codes::license_error(code).map_or("unknown code", |c| c.name);
            return format!("License Error Alert ({name})").into();
        }
        _ => "licensing PDU",
    };
    name.into()
}

/// A Share Control PDU (MS-RDPBCGR 2.2.8.1.1.1.1) by its pduType, and a Share Data PDU
/// by its pduType2.
fn share_control(data: &[u8]) -> Option<Name> {
    let total = usize::from(u16_le(data, 0)?);
    if total != data.len() && total != 0x8000 {
        return None;
    }
    Some(
        match u16_le(data, 2)? & 0x0F {
            0x1 => "Demand Active PDU",
            0x3 => "Confirm Active PDU",
            0x6 => "Deactivate All PDU",
            0xA => "Server Redirection PDU",
            0x7 => return share_data(data),
            _ => "Share Control PDU",
        }
        .into(),
    )
}

fn share_data(data: &[u8]) -> Option<Name> {
    let kind = *data.get(14)?;
    Some(match kind {
        0x02 => "Update PDU".into(),
        0x14 => {
            let action = match u16_le(data, 18) {
                Some(1) => "Request Control",
                Some(2) => "Granted Control",
                Some(3) => "Detach",
                Some(4) => "Cooperate",
                _ => "unknown action",
            };
            format!("Control PDU ({action})").into()
        }
        0x1C => "Input Event PDU".into(),
        0x1F => "Synchronize PDU".into(),
        0x21 => "Refresh Rect PDU".into(),
        0x1B => "Pointer PDU".into(),
        0x23 => "Suppress Output PDU".into(),
        0x24 => "Shutdown Request PDU".into(),
        0x25 => "Shutdown Denied PDU".into(),
        0x26 => "Save Session Info PDU".into(),
        0x27 => "Font List PDU".into(),
        0x28 => "Font Map PDU".into(),
        0x29 => "Set Keyboard Indicators PDU".into(),
        0x2C => "Status Info PDU".into(),
        0x2F => {
            let code = u32_le(data, 18).unwrap_or(0);
            format!(
                "Set Error Info PDU ({})",
                codes::errinfo(code).map_or("unknown code", |c| c.name)
            )
            .into()
        }
        0x37 => "Monitor Layout PDU".into(),
        other => format!("Share Data PDU (pduType2 0x{other:02X})").into(),
    })
}

/// TLS content types (RFC 8446 5.1).
const TLS_CHANGE_CIPHER_SPEC: u8 = 20;
const TLS_ALERT: u8 = 21;
const TLS_HANDSHAKE: u8 = 22;

fn tls_record(frame: &[u8]) -> Named {
    let body = &frame[5..];
    match frame[0] {
        TLS_CHANGE_CIPHER_SPEC => Named::new("TLS ChangeCipherSpec"),
        TLS_ALERT if body.len() == 2 => Named::new(format!(
            "TLS Alert ({}, {:?})",
            if body[0] == 2 { "fatal" } else { "warning" },
            rustls::AlertDescription::from(body[1])
        )),
        TLS_HANDSHAKE => handshake(body),
        _ => Named {
            encrypted: true,
            ..Named::new("TLS encrypted record")
        },
    }
}

/// The handshake messages of a plaintext handshake record; a record whose messages do not
/// add up is an encrypted one (TLS 1.2's Finished).
fn handshake(mut body: &[u8]) -> Named {
    let mut names = Vec::new();
    let mut named_step = None;
    while body.len() >= 4 {
        let len = usize::from(body[1]) << 16 | usize::from(body[2]) << 8 | usize::from(body[3]);
        let Some(message) = body.get(4..4 + len) else {
            break;
        };
        let name = match body[0] {
            1 => {
                named_step = Some((Step::ClientHelloSent, None));
                "ClientHello"
            }
            2 => {
                named_step = Some((Step::ServerHelloReceived, server_hello(message)));
                "ServerHello"
            }
            4 => "NewSessionTicket",
            11 => "Certificate",
            12 => "ServerKeyExchange",
            13 => "CertificateRequest",
            14 => "ServerHelloDone",
            16 => "ClientKeyExchange",
            _ => "handshake message",
        };
        names.push(name);
        body = &body[4 + len..];
    }
    if names.is_empty() || !body.is_empty() {
        return Named {
            encrypted: true,
            ..Named::new("TLS encrypted handshake message")
        };
    }
    let named = Named::new(format!("TLS {}", names.join(", ")));
    match named_step {
        Some((step, detail)) => named.step(step, detail),
        None => named,
    }
}

/// A ServerHello's version (the supported_versions extension for TLS 1.3) and cipher suite.
fn server_hello(message: &[u8]) -> Option<String> {
    let hello = crate::probe::hello::ServerHello::parse(message)?;
    Some(format!(
        "{:?}, {:?}",
        rustls::ProtocolVersion::from(hello.version.0),
        rustls::CipherSuite::from(hello.suite)
    ))
}

fn ts_request(frame: &[u8]) -> Named {
    let Ok(request) = TsRequest::from_buffer(frame) else {
        return Named::new(format!("DER ({})", hex_prefix(frame)));
    };
    let version = request.version;
    let token = request.nego_tokens.as_deref();
    let mut parts = Vec::new();
    let mut step = None;
    match token.and_then(ntlm::message_type) {
        Some(ntlm::MessageType::Negotiate) => {
            parts.push("NTLM NEGOTIATE".to_owned());
            step = Some((Step::NegotiateSent, None));
        }
        Some(ntlm::MessageType::Challenge) => {
            parts.push("NTLM CHALLENGE".to_owned());
            let detail = token
                .and_then(ntlm::Challenge::parse)
                .map(|c| describe_challenge(&c, version));
            step = Some((Step::ChallengeReceived, detail));
        }
        Some(ntlm::MessageType::Authenticate) => {
            let secrets = token.and_then(ntlm::authenticate_secrets);
            parts.push(format!(
                "NTLM AUTHENTICATE {}",
                secrets.map_or_else(|| "[response]".to_owned(), |s| s.describe())
            ));
            step = Some((Step::AuthenticateSent, None));
        }
        None if token.is_some() => parts.push("negoToken".to_owned()),
        None => {}
    }
    if request.pub_key_auth.is_some() {
        parts.push("pubKeyAuth".to_owned());
    }
    if let Some(auth_info) = &request.auth_info {
        parts.push(format!(
            "TSCredentials [encrypted credentials, {} bytes]",
            auth_info.len()
        ));
        step = Some((Step::CredentialsSent, None));
    }
    if let Some(code) = request.error_code {
        parts.push(format!(
            "errorCode 0x{:08X} {}",
            code.0,
            codes::ntstatus(code.0).map_or("", |c| c.name)
        ));
    }
    let named = Named::new(format!("TSRequest v{version}: {}", parts.join(" + ")));
    match step {
        Some((step, detail)) => named.step(step, detail),
        None => named,
    }
}

/// What a CHALLENGE reveals, in one line: the server's CredSSP version, names, OS version,
/// clock and its skew to ours.
pub(crate) fn describe_challenge(c: &ntlm::Challenge, credssp_version: u32) -> String {
    let mut parts = vec![format!("CredSSP v{credssp_version}")];
    let names: Vec<&str> = [
        &c.netbios_computer,
        &c.netbios_domain,
        &c.dns_computer,
        &c.dns_domain,
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .filter(|name| !name.is_empty())
    .collect();
    if !names.is_empty() {
        parts.push(format!("names {}", names.join(" / ")));
    }
    if let Some(version) = c.version {
        parts.push(format!("OS version {version}"));
    }
    if let (Some(time), Some(skew)) = (c.server_time(), c.clock_skew_seconds()) {
        parts.push(format!(
            "server time {} (clock skew {skew:+} s)",
            crate::cert::rfc3339(time)
        ));
    }
    parts.join("; ")
}

/// The Early User Authorization Result (MS-RDPBCGR 2.2.10.2).
fn authorization_result(frame: &[u8]) -> Named {
    let result = match u32_le(frame, 0) {
        Some(0) => "ACCESS_GRANTED",
        Some(5) => "ACCESS_DENIED",
        _ => "unknown result",
    };
    Named::new(format!("Early User Authorization Result ({result})"))
        .step(Step::AuthorizationReceived, Some(result.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_and_never_zero_length() {
        assert_eq!(
            length(Layer::Wire, Stage::X224, &[0x03, 0, 0, 19]),
            Some(19)
        );
        assert_eq!(length(Layer::Wire, Stage::X224, &[0x03, 0, 0, 2]), None);
        assert_eq!(length(Layer::Wire, Stage::X224, &[0x03]), Some(4));
        assert_eq!(
            length(Layer::Wire, Stage::Tls, &[0x16, 3, 1, 0, 5]),
            Some(10)
        );
        assert_eq!(
            length(Layer::Plain, Stage::Credssp, &[0x30, 0x82, 1, 0]),
            Some(260)
        );
        assert_eq!(length(Layer::Plain, Stage::Credssp, &[0, 0, 0, 0]), Some(4));
        assert_eq!(length(Layer::Plain, Stage::Finalization, &[0, 1]), None);
        assert_eq!(length(Layer::Wire, Stage::X224, b"SSH-2.0"), None);
        for first in 0..=255u8 {
            for layer in [Layer::Wire, Layer::Plain] {
                let buf = [first, 0, 0, 0, 0, 0];
                if let Some(len) = length(layer, Stage::Credssp, &buf) {
                    assert!(len > 0, "{first:#x}");
                }
                let _ = name(layer, Direction::Received, Stage::Credssp, &buf);
            }
        }
    }

    #[test]
    fn names_the_pdus_of_a_connection() {
        let request = [
            0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x08, 0x00, 0x0b, 0x00,
            0x00, 0x00,
        ];
        let named = name(Layer::Wire, Direction::Sent, Stage::X224, &request);
        assert_eq!(named.name, "X.224 Connection Request");
        assert_eq!(named.step, Some(Step::RequestSent));
        assert_eq!(
            named.step_detail.as_deref(),
            Some("protocols tls,hybrid,hybrid_ex; cookie none")
        );
        let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
        assert_eq!(
            name(Layer::Wire, Direction::Received, Stage::Tls, &alert).name,
            "TLS Alert (fatal, HandshakeFailure)"
        );
        let granted = [0, 0, 0, 0];
        let named = name(Layer::Plain, Direction::Received, Stage::Credssp, &granted);
        assert_eq!(named.step, Some(Step::AuthorizationReceived));
    }
}
