//! The scenario catalogue: what each mock server does on the wire and what a probe must report.

use std::fmt;
use std::str::FromStr;

use crate::{FailureKind, Stage};

/// RDP_NEG_FAILURE code SSL_REQUIRED_BY_SERVER (MS-RDPBCGR 2.2.1.2.2).
pub const SSL_REQUIRED_BY_SERVER: u32 = 0x0000_0001;
/// RDP_NEG_FAILURE code SSL_NOT_ALLOWED_BY_SERVER.
pub const SSL_NOT_ALLOWED_BY_SERVER: u32 = 0x0000_0002;
/// RDP_NEG_FAILURE code SSL_CERT_NOT_ON_SERVER.
pub const SSL_CERT_NOT_ON_SERVER: u32 = 0x0000_0003;
/// RDP_NEG_FAILURE code INCONSISTENT_FLAGS.
pub const INCONSISTENT_FLAGS: u32 = 0x0000_0004;
/// RDP_NEG_FAILURE code HYBRID_REQUIRED_BY_SERVER.
pub const HYBRID_REQUIRED_BY_SERVER: u32 = 0x0000_0005;
/// RDP_NEG_FAILURE code SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER.
pub const SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER: u32 = 0x0000_0006;

/// ERRINFO_SERVER_DENIED_CONNECTION (MS-RDPBCGR 2.2.5.1.1).
pub const ERRINFO_SERVER_DENIED_CONNECTION: u32 = 0x0000_0007;

/// One behaviour of the mock RDP server.
///
/// Every scenario is real RDP on the wire; [`Scenario::expected`] says what a correct probe
/// reports against it. [`Scenario::ALL`] enumerates every concrete scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Selects PROTOCOL_SSL (TLS, no NLA) and runs the whole connection sequence.
    SuccessTls,
    /// Selects PROTOCOL_HYBRID (CredSSP / NTLM against fixed credentials) and runs the whole
    /// connection sequence.
    SuccessHybrid,
    /// Selects PROTOCOL_HYBRID_EX (CredSSP plus a successful Early User Authorization Result)
    /// and runs the whole connection sequence.
    SuccessHybridEx,
    /// Answers the X.224 Connection Request with RDP_NEG_FAILURE carrying this code, then closes.
    NegotiationFailure(u32),
    /// Selects PROTOCOL_HYBRID, completes CredSSP, then closes before MCS Connect Initial.
    CloseAfterCredssp,
    /// Accepts TCP and never sends anything.
    BlackHole,
    /// Reads the X.224 Connection Request, then closes without answering.
    CloseAfterConnectionRequest,
    /// Accepts the TCP connection and closes it at once.
    CloseOnAccept,
    /// Reads the X.224 Connection Request, then resets the connection (RST).
    ResetAfterConnectionRequest,
    /// An HTTP server: answers `400 Bad Request`.
    HttpServer,
    /// An SSH server: sends its banner on accept.
    SshServer,
    /// A TLS-first service: answers the X.224 request with a TLS alert.
    TlsFirstServer,
    /// Answers with bytes that are nothing at all.
    GarbageReply,
    /// Sends 8 of the 19 bytes of a Connection Confirm, then closes.
    TruncatedTpkt,
    /// Sends a Connection Confirm whose TPKT version is 2 instead of 3.
    BadTpktVersion,
    /// Selects Standard RDP Security (PROTOCOL_RDP) although the client offered TLS/NLA.
    SelectsStandardRdpSecurity,
    /// Selects PROTOCOL_RDSTLS, which the client did not offer.
    SelectsUnofferedProtocol,
    /// Answers with a Connection Confirm without RDP_NEG_RSP (a pre-RDP 5.2 server).
    NoNegotiationResponse,
    /// Selects TLS, then answers the ClientHello with a fatal handshake_failure alert.
    TlsHandshakeFailure,
    /// Selects TLS, then closes the connection after the ClientHello.
    CloseDuringTlsHandshake,
    /// Selects HYBRID_EX, authenticates the user, then denies access in the Early User
    /// Authorization Result.
    EarlyUserAuthorizationDenied,
    /// Selects TLS; answers the Client Info PDU with a licensing Error Alert
    /// ERR_NO_LICENSE_SERVER, then closes.
    LicensingErrorNoLicenseServer,
    /// Selects TLS; after the Client Info PDU sends Set Error Info
    /// ERRINFO_SERVER_DENIED_CONNECTION and an MCS Disconnect Provider Ultimatum, then closes.
    ServerErrorInfoDeniedConnection,
}

/// What a correct probe reports against a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Expected {
    /// The stage the probe stops at ([`Stage::Connected`] on success).
    pub stage: Stage,
    /// The failure kind, `None` when the probe connects.
    pub kind: Option<FailureKind>,
    /// The RDP_NEG_FAILURE code, for negotiation failures.
    pub neg_failure_code: Option<u32>,
    /// The NTSTATUS carried by a CredSSP failure.
    pub ntstatus: Option<u32>,
    /// The ERRINFO code of a Set Error Info PDU.
    pub errinfo: Option<u32>,
}

impl Expected {
    const fn connected() -> Self {
        Self::failure(Stage::Connected, None)
    }

    const fn failure(stage: Stage, kind: Option<FailureKind>) -> Self {
        Self {
            stage,
            kind,
            neg_failure_code: None,
            ntstatus: None,
            errinfo: None,
        }
    }

    /// Whether the probe is expected to reach [`Stage::Connected`].
    pub fn is_connected(&self) -> bool {
        self.kind.is_none()
    }
}

/// Name, description and expectation of a scenario: the catalogue, in one place.
struct Spec {
    name: &'static str,
    description: &'static str,
    expected: Expected,
}

impl Scenario {
    /// Every concrete scenario, in catalogue order.
    pub const ALL: &'static [Scenario] = &[
        Scenario::SuccessTls,
        Scenario::SuccessHybrid,
        Scenario::SuccessHybridEx,
        Scenario::NegotiationFailure(SSL_REQUIRED_BY_SERVER),
        Scenario::NegotiationFailure(SSL_NOT_ALLOWED_BY_SERVER),
        Scenario::NegotiationFailure(SSL_CERT_NOT_ON_SERVER),
        Scenario::NegotiationFailure(INCONSISTENT_FLAGS),
        Scenario::NegotiationFailure(HYBRID_REQUIRED_BY_SERVER),
        Scenario::NegotiationFailure(SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER),
        Scenario::CloseAfterCredssp,
        Scenario::BlackHole,
        Scenario::CloseAfterConnectionRequest,
        Scenario::ServerErrorInfoDeniedConnection,
        Scenario::CloseOnAccept,
        Scenario::ResetAfterConnectionRequest,
        Scenario::HttpServer,
        Scenario::SshServer,
        Scenario::TlsFirstServer,
        Scenario::GarbageReply,
        Scenario::TruncatedTpkt,
        Scenario::BadTpktVersion,
        Scenario::SelectsStandardRdpSecurity,
        Scenario::SelectsUnofferedProtocol,
        Scenario::NoNegotiationResponse,
        Scenario::TlsHandshakeFailure,
        Scenario::CloseDuringTlsHandshake,
        Scenario::EarlyUserAuthorizationDenied,
        Scenario::LicensingErrorNoLicenseServer,
    ];

    fn spec(&self) -> Spec {
        use FailureKind as K;
        use Stage as S;

        let (name, description, expected) = match *self {
            Scenario::SuccessTls => (
                "success_tls",
                "selects TLS (PROTOCOL_SSL) without NLA and completes the connection sequence",
                Expected::connected(),
            ),
            Scenario::SuccessHybrid => (
                "success_hybrid",
                "selects CredSSP (PROTOCOL_HYBRID, NTLM) and completes the connection sequence",
                Expected::connected(),
            ),
            Scenario::SuccessHybridEx => (
                "success_hybrid_ex",
                "selects CredSSP with Early User Authorization (PROTOCOL_HYBRID_EX) and completes the connection sequence",
                Expected::connected(),
            ),
            Scenario::NegotiationFailure(code) => {
                let (name, description) = match code {
                    SSL_REQUIRED_BY_SERVER => (
                        "negotiation_failure_ssl_required_by_server",
                        "answers the X.224 request with RDP_NEG_FAILURE SSL_REQUIRED_BY_SERVER (1)",
                    ),
                    SSL_NOT_ALLOWED_BY_SERVER => (
                        "negotiation_failure_ssl_not_allowed_by_server",
                        "answers the X.224 request with RDP_NEG_FAILURE SSL_NOT_ALLOWED_BY_SERVER (2)",
                    ),
                    SSL_CERT_NOT_ON_SERVER => (
                        "negotiation_failure_ssl_cert_not_on_server",
                        "answers the X.224 request with RDP_NEG_FAILURE SSL_CERT_NOT_ON_SERVER (3)",
                    ),
                    INCONSISTENT_FLAGS => (
                        "negotiation_failure_inconsistent_flags",
                        "answers the X.224 request with RDP_NEG_FAILURE INCONSISTENT_FLAGS (4)",
                    ),
                    HYBRID_REQUIRED_BY_SERVER => (
                        "negotiation_failure_hybrid_required_by_server",
                        "answers the X.224 request with RDP_NEG_FAILURE HYBRID_REQUIRED_BY_SERVER (5)",
                    ),
                    SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER => (
                        "negotiation_failure_ssl_with_user_auth_required_by_server",
                        "answers the X.224 request with RDP_NEG_FAILURE SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER (6)",
                    ),
                    _ => (
                        "negotiation_failure",
                        "answers the X.224 request with RDP_NEG_FAILURE carrying a custom code",
                    ),
                };
                let mut expected = Expected::failure(S::X224, Some(K::NegotiationFailure));
                expected.neg_failure_code = Some(code);
                (name, description, expected)
            }
            Scenario::CloseAfterCredssp => (
                "close_after_credssp",
                "completes CredSSP (PROTOCOL_HYBRID), then closes before answering MCS Connect Initial",
                Expected::failure(S::BasicSettings, Some(K::ClosedByPeer)),
            ),
            Scenario::BlackHole => (
                "black_hole",
                "accepts the TCP connection and never sends anything",
                Expected::failure(S::X224, Some(K::Timeout)),
            ),
            Scenario::CloseAfterConnectionRequest => (
                "close_after_connection_request",
                "reads the X.224 Connection Request, then closes without answering",
                Expected::failure(S::X224, Some(K::ClosedByPeer)),
            ),
            Scenario::CloseOnAccept => (
                "close_on_accept",
                "accepts the TCP connection and closes it at once",
                Expected::failure(S::X224, Some(K::ClosedByPeer)),
            ),
            Scenario::ResetAfterConnectionRequest => (
                "reset_after_connection_request",
                "reads the X.224 Connection Request, then resets the connection (RST)",
                Expected::failure(S::X224, Some(K::Reset)),
            ),
            Scenario::HttpServer => (
                "http_server",
                "an HTTP server on the port: answers 400 Bad Request",
                Expected::failure(S::X224, Some(K::NotRdp)),
            ),
            Scenario::SshServer => (
                "ssh_server",
                "an SSH server on the port: sends its banner",
                Expected::failure(S::X224, Some(K::NotRdp)),
            ),
            Scenario::TlsFirstServer => (
                "tls_first_server",
                "a TLS-first service on the port: answers the X.224 request with a TLS alert",
                Expected::failure(S::X224, Some(K::NotRdp)),
            ),
            Scenario::GarbageReply => (
                "garbage_reply",
                "answers the X.224 request with bytes that are not RDP",
                Expected::failure(S::X224, Some(K::NotRdp)),
            ),
            Scenario::TruncatedTpkt => (
                "truncated_tpkt",
                "sends 8 of the 19 bytes of a Connection Confirm, then closes",
                Expected::failure(S::X224, Some(K::ProtocolError)),
            ),
            Scenario::BadTpktVersion => (
                "bad_tpkt_version",
                "sends a Connection Confirm with TPKT version 2",
                Expected::failure(S::X224, Some(K::NotRdp)),
            ),
            Scenario::SelectsStandardRdpSecurity => (
                "selects_standard_rdp_security",
                "selects Standard RDP Security (PROTOCOL_RDP) although the client offered TLS and NLA",
                Expected::failure(S::X224, Some(K::UnsupportedSecurity)),
            ),
            Scenario::SelectsUnofferedProtocol => (
                "selects_unoffered_protocol",
                "selects PROTOCOL_RDSTLS, which the client did not offer",
                Expected::failure(S::X224, Some(K::UnsupportedSecurity)),
            ),
            Scenario::NoNegotiationResponse => (
                "no_negotiation_response",
                "answers with a Connection Confirm without RDP_NEG_RSP (a pre-RDP 5.2 server)",
                Expected::failure(S::X224, Some(K::UnsupportedSecurity)),
            ),
            Scenario::TlsHandshakeFailure => (
                "tls_handshake_failure",
                "selects TLS, then refuses the ClientHello with a fatal handshake_failure alert",
                Expected::failure(S::Tls, Some(K::TlsAlert)),
            ),
            Scenario::CloseDuringTlsHandshake => (
                "close_during_tls_handshake",
                "selects TLS, then closes the connection after the ClientHello (an RDP service that cannot use its certificate's private key)",
                Expected::failure(S::Tls, Some(K::ClosedByPeer)),
            ),
            Scenario::EarlyUserAuthorizationDenied => (
                "early_user_authorization_denied",
                "selects HYBRID_EX, authenticates the user, then denies access in the Early User Authorization Result",
                Expected::failure(S::Credssp, Some(K::AccessDenied)),
            ),
            Scenario::LicensingErrorNoLicenseServer => (
                "licensing_error_no_license_server",
                "answers the Client Info PDU with a licensing Error Alert ERR_NO_LICENSE_SERVER, then closes",
                Expected::failure(S::Licensing, Some(K::LicensingError)),
            ),
            Scenario::ServerErrorInfoDeniedConnection => {
                let mut expected = Expected::failure(S::SecureSettings, Some(K::ServerErrorInfo));
                expected.errinfo = Some(ERRINFO_SERVER_DENIED_CONNECTION);
                (
                    "server_error_info_denied_connection",
                    "after the Client Info PDU sends Set Error Info ERRINFO_SERVER_DENIED_CONNECTION (0x7) and disconnects (mstsc: 0x904 / extended 0x7)",
                    expected,
                )
            }
        };

        Spec {
            name,
            description,
            expected,
        }
    }

    /// The stable snake_case name of the scenario.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// A one-line description of what the server does.
    pub fn description(&self) -> &'static str {
        self.spec().description
    }

    /// What a correct probe reports against this scenario.
    pub fn expected(&self) -> Expected {
        self.spec().expected
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error returned when parsing an unknown scenario name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario `{0}`")]
pub struct UnknownScenario(pub String);

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .iter()
            .copied()
            .find(|scenario| scenario.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_parse_back() {
        let mut names = std::collections::HashSet::new();
        for scenario in Scenario::ALL {
            assert!(
                names.insert(scenario.name()),
                "duplicate {}",
                scenario.name()
            );
            assert_eq!(scenario.name().parse::<Scenario>().unwrap(), *scenario);
            assert!(!scenario.description().is_empty());
            let expected = scenario.expected();
            assert_eq!(expected.is_connected(), expected.stage == Stage::Connected);
        }
        assert!("bogus".parse::<Scenario>().is_err());
    }

    #[test]
    fn negotiation_failures_cover_codes_one_to_six() {
        let codes: Vec<u32> = Scenario::ALL
            .iter()
            .filter_map(|s| s.expected().neg_failure_code)
            .collect();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 6]);
    }
}
