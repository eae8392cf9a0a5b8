//! The server's side of CredSSP for the RDP connections (`conn`): sspi's `CredSspServer`
//! with NTLM against the mock's one account, bare or wrapped in SPNEGO (the Negotiate
//! package) as the client's first message chooses, the errorCode rule of
//! [`wire::error_answer`], and the Early User Authorization Result of HYBRID_EX.
//!
//! IronRDP's `accept_credssp_with` runs sspi with bare NTLM only (its Negotiate mode is for
//! Kerberos), so a client that wraps NTLM in SPNEGO, as aardwolf does and as Windows
//! accepts, got an error TSRequest from it.

use std::io;

use ironrdp_acceptor::{Acceptor, AcceptorState};
use ironrdp_connector::sspi::credssp::{
    CredSspServer, CredentialsProxy, EarlyUserAuthResult, ServerMode, ServerState, TsRequest,
};
use ironrdp_connector::sspi::ntlm::NtlmConfig;
use ironrdp_connector::sspi::{AuthIdentity, ErrorKind, NegotiateConfig, Username};
use ironrdp_connector::Sequence as _;
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::rdp::client_info::Credentials;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::cert::der_tlv;
use tracing::info;

use super::wire::{self, timed, ConnError};

/// The server's side of CredSSP: NTLM against `credentials`, bare or wrapped in SPNEGO (the
/// Negotiate package), as the client's first message chooses (Windows accepts both); with
/// HYBRID_EX, the Early User Authorization Result, `deny` refusing the authenticated user.
///
/// A failed logon is answered with a TSRequest errorCode only to a client announcing a
/// CredSSP version that has it ([`wire::error_answer`]); otherwise the server closes.
pub(crate) async fn accept<S>(
    framed: &mut TokioFramed<S>,
    acceptor: &mut Acceptor,
    credentials: &Credentials,
    public_key: Vec<u8>,
    deny: bool,
    timeout: std::time::Duration,
) -> Result<(), ConnError>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin,
{
    let state = ironrdp_connector::state_downcast::<AcceptorState>(acceptor.state());
    let early_user_authorization = match state {
        Some(AcceptorState::Credssp { protocol, .. }) => {
            protocol.contains(SecurityProtocol::HYBRID_EX)
        }
        _ => false,
    };
    let identity = AuthIdentity {
        username: Username::new(&credentials.username, credentials.domain.as_deref())
            .map_err(|e| ConnError::Rdp(format!("invalid mock user name: {e}")))?,
        password: credentials.password.clone().into(),
    };
    let mut server = None;
    let mut spnego = false;
    loop {
        let pdu = timed(timeout, "CredSSP", framed.read_by_hint(&TS_REQUEST_HINT)).await?;
        let mut request = TsRequest::from_buffer(&pdu)
            .map_err(|e| ConnError::Rdp(format!("invalid TSRequest: {e}")))?;
        let client_version = request.version;
        let server = match &mut server {
            Some(server) => {
                if spnego {
                    if let Some(token) = request.nego_tokens.as_deref().and_then(with_neg_state) {
                        request.nego_tokens = Some(token);
                    }
                }
                server
            }
            None => {
                let mode = server_mode(request.nego_tokens.as_deref());
                spnego = matches!(mode, ServerMode::Negotiate(_));
                if spnego {
                    let token = request.nego_tokens.as_deref().unwrap_or_default();
                    let token = first_spnego_token(token).ok_or_else(|| {
                        ConnError::Rdp("invalid or unsupported SPNEGO token".to_owned())
                    })?;
                    request.nego_tokens = Some(token);
                }
                let known = Known(identity.clone());
                server.insert(
                    CredSspServer::new(public_key.clone(), known, mode)
                        .map_err(|e| ConnError::Rdp(format!("CredSSP server: {e}")))?,
                )
            }
        };
        let result = server.process(request).resolve_to_result();
        let reply = match result {
            Ok(ServerState::ReplyNeeded(reply)) => reply,
            Ok(ServerState::Finished(_)) => break,
            Err(failure) => {
                // sspi's code for a failed logon is an SSPI status, not an NTSTATUS: a
                // wrong password or an unknown user is STATUS_LOGON_FAILURE, as from
                // Windows. sspi checks the password only through the NTLM MIC, or, for a
                // client that sends none (aardwolf), through the signature of pubKeyAuth
                // or mechListMIC, keyed by it: a signature that does not verify is a wrong
                // password there. A client too old for errorCode sees the close.
                let status = match failure.error.error_type {
                    ErrorKind::LogonDenied | ErrorKind::MessageAltered => {
                        Some(super::STATUS_LOGON_FAILURE)
                    }
                    _ => failure
                        .ts_request
                        .and_then(|request| request.error_code)
                        .map(|code| code.0),
                };
                if let Some(answer) =
                    status.and_then(|status| wire::error_answer(client_version, status))
                {
                    let _ = timed(timeout, "reply write", framed.write_all(&answer)).await;
                } else {
                    info!(client_version, "Closing without a TSRequest errorCode");
                }
                return Err(ConnError::Rdp(format!("CredSSP: {}", failure.error)));
            }
        };
        let mut bytes = Vec::new();
        reply
            .encode_ts_request(&mut bytes)
            .map_err(|e| ConnError::Rdp(format!("encode TSRequest: {e}")))?;
        timed(timeout, "reply write", framed.write_all(&bytes)).await?;
    }
    if early_user_authorization {
        let result = if deny {
            info!("Denying access in the Early User Authorization Result");
            EarlyUserAuthResult::AccessDenied
        } else {
            EarlyUserAuthResult::Success
        };
        let mut bytes = Vec::new();
        result
            .to_buffer(&mut bytes)
            .map_err(|e| ConnError::Rdp(format!("encode Early User Authorization Result: {e}")))?;
        timed(timeout, "reply write", framed.write_all(&bytes)).await?;
        if deny {
            return Err(ConnError::Rdp(
                "user is not authorized for remote logon".to_owned(),
            ));
        }
    }
    acceptor.mark_credssp_as_done();
    Ok(())
}

/// What the NTLM messages come in: bare (mstsc, xfreerdp, IronRDP, impacket send the NTLM
/// NEGOTIATE as it is) or anything else, which only SPNEGO's Negotiate package can read
/// (a GSS-API InitialContextToken, RFC 4178). Only the first eight bytes are looked at.
fn server_mode(first_token: Option<&[u8]>) -> ServerMode {
    let computer = "rdpscope-mock".to_owned();
    if first_token.is_some_and(|token| token.starts_with(b"NTLMSSP\0")) {
        return ServerMode::Ntlm(NtlmConfig::new(computer));
    }
    ServerMode::Negotiate(NegotiateConfig::new(
        Box::new(NtlmConfig::new(computer.clone())),
        Some("!kerberos,!pku2u,ntlm".to_owned()),
        computer,
    ))
}

/// The one account the mock knows (sspi asks for it by the name the client sent).
#[derive(Debug)]
struct Known(AuthIdentity);

impl CredentialsProxy for Known {
    type AuthenticationData = AuthIdentity;

    fn auth_data_by_user(&mut self, username: &Username) -> io::Result<AuthIdentity> {
        if !username
            .account_name()
            .eq_ignore_ascii_case(self.0.username.account_name())
        {
            return Err(io::Error::other("unknown user"));
        }
        let mut known = self.0.clone();
        // Answer under the name (and domain) the client used.
        known.username = username.clone();
        Ok(known)
    }

    fn auth_data(&mut self) -> io::Result<Vec<AuthIdentity>> {
        Ok(vec![self.0.clone()])
    }
}

/// Frames one DER TSRequest.
#[derive(Clone, Copy, Debug)]
struct TsRequestHint;

const TS_REQUEST_HINT: TsRequestHint = TsRequestHint;

impl ironrdp_pdu::PduHint for TsRequestHint {
    fn find_size(&self, bytes: &[u8]) -> ironrdp_core::DecodeResult<Option<(bool, usize)>> {
        match TsRequest::read_length(bytes) {
            Ok(length) => Ok(Some((true, length))),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(ironrdp_core::other_err!("TsRequestHint", source: e)),
        }
    }
}

/// The client's SPNEGO NegTokenResp `token` with negState accept-incomplete added when it has
/// none; `None` for anything else (left as it is).
///
/// sspi's SPNEGO decoding (picky-asn1-der 0.5) reads the responseToken of a NegTokenResp
/// without negState with its OCTET STRING header, so that NTLM sees `04 82 ..` instead of
/// `NTLMSSP`. RFC 4178 4.2.2 lets a client leave negState out after its first token (aardwolf
/// does); sspi's own client always sends it. Bounded: two DER headers are read, within
/// `token`, and nothing else is parsed.
fn with_neg_state(token: &[u8]) -> Option<Vec<u8>> {
    /// [0] ENUMERATED accept-incomplete (1).
    const NEG_STATE: [u8; 5] = [0xA0, 0x03, 0x0A, 0x01, 0x01];
    let sequence = der_content(token, 0xA1)?; // negTokenResp [1]
    let fields = der_content(sequence, 0x30)?; // NegTokenResp ::= SEQUENCE
    if fields.first() == Some(&NEG_STATE[0]) {
        return None;
    }
    let mut inner = NEG_STATE.to_vec();
    inner.extend_from_slice(fields);
    Some(der_tlv(0xA1, &der_tlv(0x30, &inner)))
}

/// The content of the DER value `bytes` when it is exactly one value with tag `tag`.
fn der_content(bytes: &[u8], tag: u8) -> Option<&[u8]> {
    match der_next(bytes)? {
        (found, content, []) if found == tag => Some(content),
        _ => None,
    }
}

/// The first DER value of `bytes`: its tag (one byte: low tag numbers only), its content and
/// what follows it; `None` when it does not fit in `bytes`.
fn der_next(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&length, rest) = rest.split_first()?;
    if tag & 0x1F == 0x1F {
        return None;
    }
    let (length, rest) = match length {
        0x00..=0x7F => (usize::from(length), rest),
        0x81..=0x84 => {
            let count = usize::from(length & 0x7F);
            let (digits, rest) = rest.split_at_checked(count)?;
            let length = digits
                .iter()
                .fold(0usize, |n, &digit| (n << 8) | usize::from(digit));
            (length, rest)
        }
        _ => return None,
    };
    let (content, rest) = rest.split_at_checked(length)?;
    Some((tag, content, rest))
}

/// SPNEGO's OID, 1.3.6.1.5.5.2 (DER content).
const SPNEGO: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x02];

/// The mechanisms a first SPNEGO token may list (DER content of their OIDs): NTLM, MS KRB5,
/// KRB5 and NegoEx, what Windows clients offer.
const KNOWN_MECHANISMS: [&[u8]; 4] = [
    &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0A],
    &[0x2A, 0x86, 0x48, 0x82, 0xF7, 0x12, 0x01, 0x02, 0x02],
    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02],
    &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1E],
];

/// The client's first SPNEGO token (an InitialContextToken carrying a NegTokenInit, RFC 4178
/// 4.2.1) rebuilt from the two fields sspi reads, mechTypes and mechToken; `None` when it is
/// not one or lists a mechanism outside [`KNOWN_MECHANISMS`].
///
/// sspi decodes this token with picky-krb 0.12, which panics (an `unwrap` in
/// `ApplicationTag0`) when its inside does not decode: sspi gets only what the mock built.
fn first_spnego_token(token: &[u8]) -> Option<Vec<u8>> {
    let inner = der_content(token, 0x60)?; // [APPLICATION 0] InitialContextToken
    let (0x06, SPNEGO, rest) = der_next(inner)? else {
        return None;
    };
    let init = der_content(rest, 0xA0)?; // innerContextToken: negTokenInit [0]
    let mut fields = der_content(init, 0x30)?;
    let (mut mech_types, mut mech_token) = (None, None);
    while !fields.is_empty() {
        let (tag, content, rest) = der_next(fields)?;
        fields = rest;
        match tag {
            0xA0 => {
                let list = der_content(content, 0x30)?;
                let mut oids = list;
                while !oids.is_empty() {
                    let (tag, oid, rest) = der_next(oids)?;
                    if tag != 0x06 || !KNOWN_MECHANISMS.contains(&oid) {
                        return None;
                    }
                    oids = rest;
                }
                mech_types = Some(list);
            }
            0xA2 => mech_token = Some(der_content(content, 0x04)?),
            // reqFlags, mechListMIC (negHints of MS-SPNG's NegTokenInit2): unread by sspi.
            0xA1 | 0xA3 | 0xA4 => {}
            _ => return None,
        }
    }
    let mut init = der_tlv(0xA0, &der_tlv(0x30, mech_types?));
    if let Some(mech_token) = mech_token {
        init.extend(der_tlv(0xA2, &der_tlv(0x04, mech_token)));
    }
    let mut inner = der_tlv(0x06, SPNEGO);
    inner.extend(der_tlv(0xA0, &der_tlv(0x30, &init)));
    Some(der_tlv(0x60, &inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// aardwolf's NegTokenResp with the NTLM AUTHENTICATE (shortened) and a mechListMIC,
    /// no negState.
    const WITHOUT: &str =
        "a1233021a20b04094e544c4d5353500003a312041001010101010101010101010101010101";
    /// The same with negState accept-incomplete, as sspi's client sends it.
    const WITH: &str =
        "a1283026a0030a0101a20b04094e544c4d5353500003a312041001010101010101010101010101010101";

    #[test]
    fn neg_state_is_added_only_where_missing() {
        let without = hex::decode(WITHOUT).expect("hex");
        let with = hex::decode(WITH).expect("hex");
        assert_eq!(with_neg_state(&without), Some(with.clone()));
        assert_eq!(with_neg_state(&with), None);
        assert_eq!(with_neg_state(b"NTLMSSP\0\x03\0\0\0"), None);
        assert_eq!(with_neg_state(&[]), None);
    }

    #[test]
    fn long_lengths_round_trip() {
        for length in [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x1_0000] {
            let content = vec![0x5A; length];
            let value = der_tlv(0x30, &content);
            assert_eq!(der_content(&value, 0x30), Some(&content[..]), "{length}");
        }
    }

    /// aardwolf's first token: SPNEGO with NTLM alone, the NTLM NEGOTIATE as mechToken.
    const AARDWOLF_FIRST: &str = "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d535350000100000035820862000000000000000000000000000000000a00d73a0000000f";

    /// sspi's Negotiate server, as the mock runs it, on a first token; `Err` if it panicked.
    fn sspi_first_step(token: &[u8]) -> std::thread::Result<()> {
        let identity = AuthIdentity {
            username: Username::new("rdpscope", None).expect("a user name"),
            password: "password".to_owned().into(),
        };
        let mut server =
            CredSspServer::new(vec![0; 270], Known(identity), server_mode(Some(token)))
                .expect("a server");
        let request = TsRequest {
            nego_tokens: Some(token.to_vec()),
            ..TsRequest::default()
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = server.process(request).resolve_to_result();
        }))
    }

    #[test]
    fn a_first_token_is_rebuilt_as_sent() {
        let token = hex::decode(AARDWOLF_FIRST).expect("hex");
        assert_eq!(first_spnego_token(&token), Some(token));
    }

    /// The reason for the rebuild: picky-krb panics on an InitialContextToken whose inside
    /// does not decode. When this fails, picky was fixed and the rebuild may go.
    #[test]
    fn sspi_panics_on_a_hollow_first_token() {
        let hollow = [0x60, 0x02, 0x05, 0x00];
        assert!(sspi_first_step(&hollow).is_err());
        assert_eq!(first_spnego_token(&hollow), None);
    }

    proptest! {
        /// Whatever the client sends first, the rebuilt token never makes sspi panic.
        #[test]
        fn any_first_token_is_safe_for_sspi(
            flips in proptest::collection::vec((0usize..80, any::<u8>()), 0..4),
            cut in 0usize..80,
        ) {
            let mut token = hex::decode(AARDWOLF_FIRST).expect("hex");
            for (at, byte) in flips {
                token[at % 74] ^= byte;
            }
            token.truncate(74 - cut % 74);
            if let Some(rebuilt) = first_spnego_token(&token) {
                prop_assert!(sspi_first_step(&rebuilt).is_ok());
            }
        }

        /// Hostile tokens never panic, and what comes out is a NegTokenResp that starts with
        /// negState.
        #[test]
        fn any_token_is_safe(token in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(fixed) = with_neg_state(&token) {
                let fields = der_content(&fixed, 0xA1).and_then(|s| der_content(s, 0x30));
                prop_assert!(fields.is_some_and(|f| f.starts_with(&[0xA0, 0x03, 0x0A, 0x01, 0x01])));
            }
        }
    }
}
