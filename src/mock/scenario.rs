//! The scenario catalogue: what each mock server does on the wire, the real-world cause it
//! stands for, and what a correct probe must report. One table, [`Scenario::spec`].

use std::fmt;
use std::str::FromStr;

use ironrdp_pdu::nego::SecurityProtocol;

use super::fault::{Certificate, End, Fault, Refusal, Reply, Server, Step};
use crate::diagnosis::Code;
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

/// ERRINFO_SERVER_DENIED_CONNECTION (MS-RDPBCGR 2.2.5.1.1): the classic "0x904 / extended 0x7".
pub const ERRINFO_SERVER_DENIED_CONNECTION: u32 = 0x0000_0007;

/// The TLS alert description handshake_failure (40, RFC 8446 6.2).
const HANDSHAKE_FAILURE: u8 = 40;

/// STATUS_LOGON_FAILURE, what a wrong password gives.
pub const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;

/// One behaviour of the mock RDP server.
///
/// Every scenario is real RDP on the wire (or, for the servers that are not RDP, the exact
/// bytes such a server sends); [`Scenario::expected`] says what a correct probe reports
/// against it, [`Scenario::cause`] the real-world problem it reproduces. [`Scenario::ALL`]
/// enumerates every concrete scenario; the parameterised families take the values listed
/// there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// Selects PROTOCOL_SSL (TLS, no NLA) and runs the whole connection sequence.
    SuccessTls,
    /// Selects PROTOCOL_HYBRID (CredSSP / NTLM against fixed credentials) and runs the whole
    /// connection sequence.
    SuccessHybrid,
    /// Selects PROTOCOL_HYBRID_EX (CredSSP plus a successful Early User Authorization Result)
    /// and runs the whole connection sequence.
    SuccessHybridEx,
    /// Reserves a port and never listens on it: connections are refused.
    NothingListening,
    /// Accepts the TCP connection and closes it at once.
    CloseOnAccept,
    /// Reads the X.224 Connection Request, then resets the connection (RST).
    ResetAfterConnectionRequest,
    /// Accepts TCP and never sends anything.
    BlackHole,
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
    /// Answers the X.224 Connection Request with RDP_NEG_FAILURE carrying this code, then closes.
    NegotiationFailure(u32),
    /// Selects Standard RDP Security (PROTOCOL_RDP) although the client offered TLS/NLA.
    SelectsStandardRdpSecurity,
    /// Selects PROTOCOL_RDSTLS, which the client did not offer.
    SelectsUnofferedProtocol,
    /// Answers with a Connection Confirm without RDP_NEG_RSP (a pre-RDP 5.2 server).
    NoNegotiationResponse,
    /// Reads the X.224 Connection Request, then closes without answering.
    CloseAfterConnectionRequest,
    /// Selects TLS, then answers the ClientHello with a fatal handshake_failure alert.
    TlsHandshakeFailure,
    /// Selects TLS, then closes the connection after the ClientHello.
    CloseDuringTlsHandshake,
    /// Selects TLS, then answers the ClientHello with a TLS 1.0 ServerHello: a server that
    /// speaks only TLS 1.0.
    TlsVersionTooOld,
    /// Selects TLS as a TLS 1.2 server configured with only RC4, 3DES and static-RSA
    /// suites: a hardened client finds no common suite.
    WeakCipherSuitesOnly,
    /// Selects TLS, then answers the ClientHello with a TLS 1.1 ServerHello: a server that
    /// speaks only TLS 1.1.
    Tls11Only,
    /// Selects TLS and presents the checked-in certificate fixture of this name
    /// (`fixtures/NAME.crt`), then runs the whole connection sequence.
    Certificate(&'static str),
    /// Selects TLS and presents a new self-signed certificate on every connection.
    CertificateChangesEveryConnection,
    /// Selects HYBRID_EX and knows the user under another password: STATUS_LOGON_FAILURE.
    WrongPassword,
    /// Selects HYBRID_EX and answers the client's first CredSSP message with a TSRequest
    /// carrying this NTSTATUS in errorCode.
    CredsspError(u32),
    /// Selects HYBRID_EX, authenticates the user, then denies access in the Early User
    /// Authorization Result.
    EarlyUserAuthorizationDenied,
    /// Selects HYBRID, reads the NTLM AUTHENTICATE message, then closes.
    CloseAfterNtlmAuthenticate,
    /// Selects HYBRID, reads the NTLM NEGOTIATE message, then closes without a CHALLENGE.
    CloseAfterNtlmNegotiate,
    /// Selects NLA and answers the NTLM NEGOTIATE like a Windows Server 2008 R2 without the
    /// CredSSP update (CredSSP version 3) whose clock is ten minutes behind; closes after the
    /// client's next message.
    OldCredsspSkewedClock,
    /// Selects HYBRID, authenticates, then closes when the connection sequence reaches this
    /// stage (basic_settings: right after CredSSP).
    CloseDuring(Stage),
    /// Selects TLS; answers the Client Info PDU with Set Error Info carrying this ERRINFO
    /// code and an MCS Disconnect Provider Ultimatum, then closes.
    ServerErrorInfo(u32),
    /// Selects TLS; answers the Client Info PDU with a licensing Error Alert
    /// ERR_NO_LICENSE_SERVER, then closes.
    LicensingErrorNoLicenseServer,
    /// Like [`Scenario::SuccessTls`], but waits 3 s (or the builder's `delay`) before every
    /// answer.
    SlowServer,
    /// Stops answering at this stage and holds the connection open: tls (after the
    /// ClientHello), or, after authenticating with HYBRID, basic_settings,
    /// channel_connection, secure_settings, capabilities or finalization.
    SilentDuring(Stage),
    /// Selects HYBRID_EX and stops answering after the client's n-th CredSSP message
    /// (1: NTLM NEGOTIATE, 2: NTLM AUTHENTICATE, 3: TSCredentials, before the Early User
    /// Authorization Result), holding the connection open.
    SilentAfterCredsspMessage(u8),
}

/// What a correct probe reports against a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Expected {
    /// The stage the probe stops at ([`Stage::Connected`] on success).
    pub stage: Stage,
    /// The failure kind, `None` when the probe connects.
    pub kind: Option<FailureKind>,
    /// The protocol code the failure carries (RDP_NEG_FAILURE, NTSTATUS, ERRINFO, TLS
    /// alert), `None` when it carries none.
    pub code: Option<Code>,
    /// A certificate finding the report must contain.
    pub finding: Option<crate::cert::FindingCode>,
}

impl Expected {
    const fn connected() -> Self {
        Self::failure(Stage::Connected, None)
    }

    const fn failure(stage: Stage, kind: Option<FailureKind>) -> Self {
        Self {
            stage,
            kind,
            code: None,
            finding: None,
        }
    }

    const fn with_code(mut self, code: Code) -> Self {
        self.code = Some(code);
        self
    }

    /// Whether the probe is expected to reach [`Stage::Connected`].
    pub fn is_connected(&self) -> bool {
        self.kind.is_none()
    }
}

/// One row of the catalogue: name, description, real-world cause, what the server is
/// configured with, the one thing that goes wrong, and what a correct probe reports.
struct Spec {
    name: &'static str,
    description: &'static str,
    cause: &'static str,
    expected: Expected,
    server: Server,
    fault: Fault,
}

impl Spec {
    /// The row served by `server` (default: a healthy TLS-only server).
    fn on(mut self, server: Server) -> Self {
        self.server = server;
        self
    }

    /// The row whose server goes wrong this way (default: nothing goes wrong).
    fn fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }
}

/// A byte script that reads the X.224 Connection Request, answers `reply` and ends.
fn after_request(reply: Reply, end: End) -> Fault {
    Fault::Script(vec![Step::Read, Step::Write(reply)], end)
}

/// A byte script that selects TLS, reads the ClientHello, sends `reply` if any and ends.
fn after_client_hello(reply: Option<Reply>, end: End) -> Fault {
    let mut script = vec![
        Step::Read,
        Step::Write(Reply::Confirm(SecurityProtocol::SSL)),
        Step::Read,
    ];
    script.extend(reply.map(Step::Write));
    Fault::Script(script, end)
}

/// The RDP_NEG_FAILURE family: code, name, description, cause.
const NEG_FAILURES: [(u32, &str, &str, &str); 6] = [
    (
        SSL_REQUIRED_BY_SERVER,
        "negotiation_failure_ssl_required_by_server",
        "answers the X.224 request with RDP_NEG_FAILURE SSL_REQUIRED_BY_SERVER (1)",
        "the server requires TLS, and the client offered only Standard RDP Security (or only NLA to a server that does TLS only)",
    ),
    (
        SSL_NOT_ALLOWED_BY_SERVER,
        "negotiation_failure_ssl_not_allowed_by_server",
        "answers the X.224 request with RDP_NEG_FAILURE SSL_NOT_ALLOWED_BY_SERVER (2)",
        "the RDP listener's Security Layer is set to RDP Security Layer only",
    ),
    (
        SSL_CERT_NOT_ON_SERVER,
        "negotiation_failure_ssl_cert_not_on_server",
        "answers the X.224 request with RDP_NEG_FAILURE SSL_CERT_NOT_ON_SERVER (3)",
        "the RDP certificate is missing, was deleted, or its private key cannot be read by NETWORK SERVICE",
    ),
    (
        INCONSISTENT_FLAGS,
        "negotiation_failure_inconsistent_flags",
        "answers the X.224 request with RDP_NEG_FAILURE INCONSISTENT_FLAGS (4)",
        "a client and server disagree about the protocols after a reconnect or a gateway rewrote the request",
    ),
    (
        HYBRID_REQUIRED_BY_SERVER,
        "negotiation_failure_hybrid_required_by_server",
        "answers the X.224 request with RDP_NEG_FAILURE HYBRID_REQUIRED_BY_SERVER (5)",
        "the server requires Network Level Authentication and the client has NLA disabled",
    ),
    (
        SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER,
        "negotiation_failure_ssl_with_user_auth_required_by_server",
        "answers the X.224 request with RDP_NEG_FAILURE SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER (6)",
        "the server requires TLS client certificate authentication",
    ),
];

/// The Set Error Info family: code, name, cause.
const ERROR_INFOS: [(u32, &str, &str); 4] = [
    (
        ERRINFO_SERVER_DENIED_CONNECTION,
        "server_error_info_denied_connection",
        "the server refuses the session after authentication (mstsc: 0x904 / extended 0x7): RDP disabled by policy, a licensing or session-host problem, or the connection limit",
    ),
    (
        0x9,
        "server_error_info_insufficient_privileges",
        "the user is not allowed to log on remotely (not in Remote Desktop Users, or denied by \"Allow log on through Remote Desktop Services\")",
    ),
    (
        0xA,
        "server_error_info_fresh_credentials_required",
        "the server policy demands freshly typed credentials (\"Always prompt for password upon connection\") and refuses saved ones",
    ),
    (
        0x1,
        "server_error_info_rpc_initiated_disconnect",
        "an administrator or a management tool disconnected the session from the server side",
    ),
];

/// The CredSSP errorCode family: NTSTATUS, name, cause.
const CREDSSP_ERRORS: [(u32, &str, &str); 6] = [
    (
        0xC000_0234,
        "credssp_account_locked_out",
        "the account is locked out after too many bad passwords",
    ),
    (
        0xC000_0071,
        "credssp_password_expired",
        "the user's password has expired",
    ),
    (
        0xC000_0072,
        "credssp_account_disabled",
        "the account is disabled in Active Directory or locally",
    ),
    (
        0xC000_0224,
        "credssp_password_must_change",
        "the user must change the password at next logon, which NLA cannot do",
    ),
    (
        0xC000_0193,
        "credssp_account_expired",
        "the account's expiry date has passed",
    ),
    (
        0xC000_015B,
        "credssp_logon_type_not_granted",
        "the user lacks the \"Allow log on through Remote Desktop Services\" right",
    ),
];

/// The certificate family: fixture, scenario name, cause.
pub(super) const CERTIFICATES: [(&str, &str, &str); 19] = [
    ("valid-self-signed", "certificate_valid_self_signed", "the default self-signed RDP certificate: works, but clients warn"),
    ("expired", "certificate_expired", "the RDP certificate expired and was not renewed (auto-renewal broken, or a CA template removed)"),
    ("not-yet-valid", "certificate_not_yet_valid", "the certificate's validity starts in the future, or a clock is far off"),
    ("wrong-name", "certificate_wrong_name", "the certificate names another host (a cloned VM, a renamed server)"),
    ("ip-san-only", "certificate_ip_san_only", "a certificate issued for the IP address only"),
    ("client-auth-eku", "certificate_client_auth_eku", "a certificate from a client-authentication template bound to the RDP listener"),
    ("rdp-auth-eku", "certificate_rdp_auth_eku", "a certificate from the Remote Desktop Authentication template (valid)"),
    ("no-eku", "certificate_no_eku", "a certificate without extended key usage (valid for any purpose)"),
    ("weak-rsa-1024", "certificate_weak_rsa_1024", "an old 1024-bit RSA certificate that modern clients refuse"),
    ("key-usage-cert-sign-only", "certificate_key_usage_cert_sign_only", "a certificate whose key usage does not allow TLS"),
    ("ca-signed", "certificate_ca_signed", "a certificate from the enterprise CA (valid)"),
    ("ca-signed-expired", "certificate_ca_signed_expired", "the CA-issued RDP certificate expired and auto-enrollment did not renew it"),
    ("ca-signed-wrong-name", "certificate_ca_signed_wrong_name", "a CA-issued certificate for another host name"),
    ("ca-signed-bad-signature", "certificate_ca_signed_bad_signature", "a corrupted or tampered certificate (or a man in the middle)"),
    ("intermediate-chain", "certificate_intermediate_chain", "a CA-issued certificate served with its intermediate (valid)"),
    ("intermediate-missing", "certificate_intermediate_missing", "the server does not send the intermediate CA certificate"),
    ("untrusted-ca", "certificate_untrusted_ca", "a certificate from a CA the client does not trust"),
    ("chain-wrong-order", "certificate_chain_wrong_order", "intermediate certificates bound in the wrong order"),
    ("windows-self-signed", "certificate_windows_self_signed", "the self-signed certificate Windows creates for RDP, named after the host"),
];

/// The close-at-stage family: stage, name, cause.
const CLOSES: [(Stage, &str, &str); 5] = [
    (
        Stage::BasicSettings,
        "close_after_credssp",
        "the server authenticates the user, then drops the connection (session host refused, licensing or policy problem, or a crashing RDP service)",
    ),
    (
        Stage::ChannelConnection,
        "close_during_channel_connection",
        "the server drops the connection while joining channels (a broken virtual channel add-in or a crashing RDP stack)",
    ),
    (
        Stage::SecureSettings,
        "close_during_secure_settings",
        "the server drops the connection after the Client Info PDU (logon refused without an error code)",
    ),
    (
        Stage::Capabilities,
        "close_during_capabilities",
        "the server drops the connection before the Demand Active PDU (session creation failed)",
    ),
    (
        Stage::Finalization,
        "close_during_finalization",
        "the server drops the connection during finalization (the session started and died at once)",
    ),
];

/// The silent-at-stage family: stage, name, cause.
const SILENCES: [(Stage, &str, &str); 6] = [
    (
        Stage::Tls,
        "silent_during_tls_handshake",
        "a TLS-inspecting middlebox or a hung RDP service that never answers the ClientHello",
    ),
    (
        Stage::BasicSettings,
        "silent_after_credssp",
        "a session host that hangs after authentication (a stuck TermService or a full session queue)",
    ),
    (
        Stage::ChannelConnection,
        "silent_during_channel_connection",
        "a hung RDP stack while joining channels",
    ),
    (
        Stage::SecureSettings,
        "silent_during_secure_settings",
        "a server that never answers the Client Info PDU (a hung logon, a Group Policy wait)",
    ),
    (
        Stage::Capabilities,
        "silent_during_capabilities",
        "a session host that never creates the session (no Demand Active)",
    ),
    (
        Stage::Finalization,
        "silent_during_finalization",
        "a session that hangs while starting",
    ),
];

/// The silent-in-CredSSP family: the client message after which the server goes silent,
/// name, cause.
const CREDSSP_SILENCES: [(u8, &str, &str); 3] = [
    (
        1,
        "silent_after_ntlm_negotiate",
        "a CredSSP provider that hangs before it can challenge (a broken NTLM package or LSA)",
    ),
    (
        2,
        "silent_after_ntlm_authenticate",
        "a server that cannot reach a domain controller and waits on it to verify the logon",
    ),
    (
        3,
        "silent_after_ts_credentials",
        "a server that hangs deciding the Early User Authorization Result (a slow authorization lookup)",
    ),
];

/// A run of the catalogue: one scenario, or rows `start..end` of a family table in their
/// order (`usize::MAX`: to the end of the table).
#[derive(Clone, Copy)]
enum Run {
    One(Scenario),
    NegFailures,
    Certificates,
    CredsspErrors,
    Closes,
    ErrorInfos,
    Silences(usize, usize),
    CredsspSilences,
}

/// The catalogue's order: singles and families as `rdpscope scenarios` lists them.
const CATALOGUE: &[Run] = &[
    Run::One(Scenario::SuccessTls),
    Run::One(Scenario::SuccessHybrid),
    Run::One(Scenario::SuccessHybridEx),
    Run::One(Scenario::NothingListening),
    Run::One(Scenario::CloseOnAccept),
    Run::One(Scenario::ResetAfterConnectionRequest),
    Run::One(Scenario::BlackHole),
    Run::One(Scenario::HttpServer),
    Run::One(Scenario::SshServer),
    Run::One(Scenario::TlsFirstServer),
    Run::One(Scenario::GarbageReply),
    Run::One(Scenario::TruncatedTpkt),
    Run::One(Scenario::BadTpktVersion),
    Run::NegFailures,
    Run::One(Scenario::SelectsStandardRdpSecurity),
    Run::One(Scenario::SelectsUnofferedProtocol),
    Run::One(Scenario::NoNegotiationResponse),
    Run::One(Scenario::CloseAfterConnectionRequest),
    Run::One(Scenario::TlsHandshakeFailure),
    Run::One(Scenario::CloseDuringTlsHandshake),
    Run::One(Scenario::TlsVersionTooOld),
    Run::One(Scenario::WeakCipherSuitesOnly),
    Run::One(Scenario::Tls11Only),
    Run::Certificates,
    Run::One(Scenario::CertificateChangesEveryConnection),
    Run::One(Scenario::WrongPassword),
    Run::CredsspErrors,
    Run::One(Scenario::EarlyUserAuthorizationDenied),
    Run::One(Scenario::CloseAfterNtlmNegotiate),
    Run::One(Scenario::OldCredsspSkewedClock),
    Run::One(Scenario::CloseAfterNtlmAuthenticate),
    Run::Closes,
    Run::ErrorInfos,
    Run::One(Scenario::LicensingErrorNoLicenseServer),
    Run::One(Scenario::SlowServer),
    // Silence in the order a connection meets it: TLS, then CredSSP, then activation.
    Run::Silences(0, 1),
    Run::CredsspSilences,
    Run::Silences(1, usize::MAX),
];

/// Rows `start..end` of a table of `len` rows.
const fn bounds(start: usize, end: usize, len: usize) -> (usize, usize) {
    (start, if end < len { end } else { len })
}

impl Run {
    /// The rows of the family table this run takes.
    const fn range(self) -> (usize, usize) {
        match self {
            Run::One(_) => (0, 1),
            Run::NegFailures => (0, NEG_FAILURES.len()),
            Run::Certificates => (0, CERTIFICATES.len()),
            Run::CredsspErrors => (0, CREDSSP_ERRORS.len()),
            Run::Closes => (0, CLOSES.len()),
            Run::ErrorInfos => (0, ERROR_INFOS.len()),
            Run::Silences(start, end) => bounds(start, end, SILENCES.len()),
            Run::CredsspSilences => (0, CREDSSP_SILENCES.len()),
        }
    }

    /// The scenario of row `i`.
    const fn member(self, i: usize) -> Scenario {
        match self {
            Run::One(scenario) => scenario,
            Run::NegFailures => Scenario::NegotiationFailure(NEG_FAILURES[i].0),
            Run::Certificates => Scenario::Certificate(CERTIFICATES[i].0),
            Run::CredsspErrors => Scenario::CredsspError(CREDSSP_ERRORS[i].0),
            Run::Closes => Scenario::CloseDuring(CLOSES[i].0),
            Run::ErrorInfos => Scenario::ServerErrorInfo(ERROR_INFOS[i].0),
            Run::Silences(..) => Scenario::SilentDuring(SILENCES[i].0),
            Run::CredsspSilences => Scenario::SilentAfterCredsspMessage(CREDSSP_SILENCES[i].0),
        }
    }
}

/// The number of scenarios in [`CATALOGUE`].
const COUNT: usize = {
    let mut count = 0;
    let mut r = 0;
    while r < CATALOGUE.len() {
        let (start, end) = CATALOGUE[r].range();
        count += end - start;
        r += 1;
    }
    count
};

/// [`CATALOGUE`] expanded into its scenarios.
const fn catalogue() -> [Scenario; COUNT] {
    let mut all = [Scenario::SuccessTls; COUNT];
    let mut n = 0;
    let mut r = 0;
    while r < CATALOGUE.len() {
        let (start, end) = CATALOGUE[r].range();
        let mut i = start;
        while i < end {
            all[n] = CATALOGUE[r].member(i);
            n += 1;
            i += 1;
        }
        r += 1;
    }
    all
}

impl Scenario {
    /// Every concrete scenario, in catalogue order: built from the catalogue's runs and the family
    /// tables, so a row added to a family is in the catalogue without another edit.
    pub const ALL: &'static [Scenario] = &catalogue();

    fn spec(&self) -> Spec {
        use FailureKind as K;
        use Stage as S;
        let spec = |name, description, cause, expected| Spec {
            name,
            description,
            cause,
            expected,
            server: Server::TLS,
            fault: Fault::None,
        };
        let failure = |stage, kind| Expected::failure(stage, Some(kind));
        match *self {
            Scenario::SuccessTls => spec(
                "success_tls",
                "selects TLS (PROTOCOL_SSL) without NLA and completes the connection sequence",
                "a healthy server with NLA disabled",
                Expected::connected(),
            ),
            Scenario::SuccessHybrid => spec(
                "success_hybrid",
                "selects CredSSP (PROTOCOL_HYBRID, NTLM) and completes the connection sequence",
                "a healthy server with NLA",
                Expected::connected(),
            )
            .on(Server::NLA),
            Scenario::SuccessHybridEx => spec(
                "success_hybrid_ex",
                "selects CredSSP with Early User Authorization (PROTOCOL_HYBRID_EX) and completes the connection sequence",
                "a healthy modern Windows server with NLA",
                Expected::connected(),
            )
            .on(Server::NLA_EX),
            Scenario::NothingListening => spec(
                "nothing_listening",
                "reserves a port and never listens on it: the connection is refused",
                "the Remote Desktop service is stopped, listens on another port, or a host firewall rejects port 3389",
                failure(S::Tcp, K::Refused),
            )
            .fault(Fault::NotListening),
            Scenario::CloseOnAccept => spec(
                "close_on_accept",
                "accepts the TCP connection and closes it at once",
                "a load balancer or proxy with no healthy backend, or an RDP service that rejects the client address",
                failure(S::X224, K::ClosedByPeer),
            )
            .fault(Fault::Script(Vec::new(), End::Close)),
            Scenario::ResetAfterConnectionRequest => spec(
                "reset_after_connection_request",
                "reads the X.224 Connection Request, then resets the connection (RST)",
                "a firewall or IPS that resets RDP traffic after inspecting the first packet",
                failure(S::X224, K::ClosedByPeer),
            )
            .fault(Fault::Script(vec![Step::Read], End::Reset)),
            Scenario::BlackHole => spec(
                "black_hole",
                "accepts the TCP connection and never sends anything",
                "a hung RDP service (TermService stuck) or a middlebox that swallows the traffic",
                failure(S::X224, K::Timeout),
            )
            .fault(Fault::Script(Vec::new(), End::Swallow)),
            Scenario::HttpServer => spec(
                "http_server",
                "an HTTP server on the port: answers 400 Bad Request",
                "the wrong port: a web server or an RD Web / Gateway HTTPS endpoint instead of RDP",
                failure(S::X224, K::NotRdp),
            )
            .fault(after_request(
                Reply::Bytes(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                End::Close,
            )),
            Scenario::SshServer => spec(
                "ssh_server",
                "an SSH server on the port: sends its banner",
                "the wrong port or a port forward pointing at SSH",
                failure(S::X224, K::NotRdp),
            )
            .fault(Fault::Script(
                vec![Step::Write(Reply::Bytes(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))],
                End::Close,
            )),
            Scenario::TlsFirstServer => spec(
                "tls_first_server",
                "a TLS-first service on the port: answers the X.224 request with a TLS alert",
                "an HTTPS service or RD Gateway (port 443) addressed as a plain RDP server",
                failure(S::X224, K::NotRdp),
            )
            // A TLS-first service (HTTPS, RD Gateway) answers a non-TLS first flight with an alert.
            .fault(after_request(Reply::HandshakeFailureAlert, End::Close)),
            Scenario::GarbageReply => spec(
                "garbage_reply",
                "answers the X.224 request with bytes that are not RDP",
                "some other service on the port",
                failure(S::X224, K::NotRdp),
            )
            .fault(after_request(Reply::Bytes(b"\x8f\x3a\x91\xee\x10garbage\x00\x01\x02"), End::Close)),
            Scenario::TruncatedTpkt => spec(
                "truncated_tpkt",
                "sends 8 of the 19 bytes of a Connection Confirm, then closes",
                "a crashing RDP service or a middlebox that cuts the stream",
                failure(S::X224, K::ProtocolError),
            )
            // 8 of the 19 bytes a Connection Confirm with RDP_NEG_RSP has.
            .fault(after_request(
                Reply::Bytes(&[0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00]),
                End::Close,
            )),
            Scenario::BadTpktVersion => spec(
                "bad_tpkt_version",
                "sends a Connection Confirm with TPKT version 2",
                "a broken RDP implementation or a device that is not an RDP server",
                failure(S::X224, K::NotRdp),
            )
            .fault(after_request(
                Reply::Bytes(&[
                    0x02, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x01,
                    0x08, 0x00, 0x01, 0x00, 0x00, 0x00,
                ]),
                End::Close,
            )),
            Scenario::NegotiationFailure(code) => {
                let (name, description, cause) = NEG_FAILURES
                    .iter()
                    .find(|(c, ..)| *c == code)
                    .map_or(
                        (
                            "negotiation_failure",
                            "answers the X.224 request with RDP_NEG_FAILURE carrying a custom code",
                            "a server refusing the negotiation",
                        ),
                        |(_, name, description, cause)| (*name, *description, *cause),
                    );
                let expected = failure(S::X224, K::NegotiationFailure).with_code(Code::NegFailure(code));
                spec(name, description, cause, expected)
                    .fault(after_request(Reply::NegFailure(code), End::Close))
            }
            Scenario::SelectsStandardRdpSecurity => spec(
                "selects_standard_rdp_security",
                "selects Standard RDP Security (PROTOCOL_RDP) although the client offered TLS and NLA",
                "the RDP listener's Security Layer is set to RDP (legacy, unauthenticated encryption)",
                failure(S::X224, K::UnsupportedSecurity),
            )
            .fault(after_request(Reply::Confirm(SecurityProtocol::empty()), End::Hold)),
            Scenario::SelectsUnofferedProtocol => spec(
                "selects_unoffered_protocol",
                "selects PROTOCOL_RDSTLS, which the client did not offer",
                "a non-conforming server or proxy",
                failure(S::X224, K::UnsupportedSecurity),
            )
            .fault(after_request(Reply::Confirm(SecurityProtocol::RDSTLS), End::Hold)),
            Scenario::NoNegotiationResponse => spec(
                "no_negotiation_response",
                "answers with a Connection Confirm without RDP_NEG_RSP (a pre-RDP 5.2 server)",
                "a very old RDP server (Windows 2000/2003 era) that knows only Standard RDP Security",
                failure(S::X224, K::UnsupportedSecurity),
            )
            // TPKT + X.224 Connection Confirm without RDP_NEG_RSP: a pre-RDP 5.2 server.
            .fault(after_request(
                Reply::Bytes(&[0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00]),
                End::Hold,
            )),
            Scenario::CloseAfterConnectionRequest => spec(
                "close_after_connection_request",
                "reads the X.224 Connection Request, then closes without answering",
                "the RDP service refuses the client before negotiating (connection limit, denied address)",
                failure(S::X224, K::ClosedByPeer),
            )
            .fault(Fault::Script(vec![Step::Read], End::Close)),
            Scenario::TlsHandshakeFailure => spec(
                "tls_handshake_failure",
                "selects TLS, then refuses the ClientHello with a fatal handshake_failure alert",
                "no common cipher suite or TLS version: TLS 1.2 disabled on the server, or a hardened cipher list",
                failure(S::Tls, K::TlsAlert).with_code(Code::TlsAlert(HANDSHAKE_FAILURE)),
            )
            .fault(after_client_hello(Some(Reply::HandshakeFailureAlert), End::Close)),
            Scenario::CloseDuringTlsHandshake => spec(
                "close_during_tls_handshake",
                "selects TLS, then closes the connection after the ClientHello",
                "NETWORK SERVICE cannot read the RDP certificate's private key, or the certificate was deleted",
                failure(S::Tls, K::ClosedByPeer),
            )
            // What an RDP service that cannot read its certificate's private key does.
            .fault(after_client_hello(None, End::Close)),
            Scenario::TlsVersionTooOld => spec(
                "tls_version_too_old",
                "selects TLS, then answers the ClientHello with a TLS 1.0 ServerHello",
                "an unpatched server that speaks only TLS 1.0/1.1",
                failure(S::Tls, K::TlsError),
            )
            .fault(after_client_hello(Some(Reply::OldServerHello(0x0301)), End::Close)),
            Scenario::WeakCipherSuitesOnly => spec(
                "weak_cipher_suites_only",
                "selects TLS as a TLS 1.2 server with only RC4, 3DES and static-RSA cipher suites",
                "a server whose SCHANNEL cipher suite order was cut down to legacy suites (or an old appliance): current clients find no common suite",
                failure(S::Tls, K::TlsAlert).with_code(Code::TlsAlert(HANDSHAKE_FAILURE)),
            )
            .fault(Fault::Script(
                vec![
                    Step::Read,
                    Step::Write(Reply::Confirm(SecurityProtocol::SSL)),
                    // TLS_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA,
                    // TLS_RSA_WITH_AES_128_CBC_SHA.
                    Step::Read,
                    Step::Write(Reply::ChooseSuite(&[0x0005, 0x000A, 0x002F])),
                ],
                End::Close,
            )),
            Scenario::Tls11Only => spec(
                "tls11_only",
                "selects TLS, then answers the ClientHello with a TLS 1.1 ServerHello",
                "a Windows 7 / Server 2008 R2 era server with TLS 1.1 enabled and TLS 1.2 not (before KB3080079)",
                failure(S::Tls, K::TlsError),
            )
            .fault(after_client_hello(Some(Reply::OldServerHello(0x0302)), End::Close)),
            Scenario::Certificate(fixture) => certificate_spec(fixture),
            Scenario::CertificateChangesEveryConnection => spec(
                "certificate_changes_every_connection",
                "selects TLS and presents a new self-signed certificate on every connection",
                "a server regenerating its self-signed certificate (or a man in the middle): a `--pin` catches it",
                Expected::connected(),
            )
            .on(Server {
                certificate: Certificate::Fresh,
                ..Server::TLS
            }),
            Scenario::WrongPassword => {
                let expected =
                    failure(S::Credssp, K::LogonFailure).with_code(Code::Ntstatus(STATUS_LOGON_FAILURE));
                spec(
                    "wrong_password",
                    "selects HYBRID_EX and knows the user under another password",
                    "a wrong or stale saved password on the client",
                    expected,
                )
                .on(Server {
                    wrong_password: true,
                    ..Server::NLA_EX
                })
            }
            Scenario::CredsspError(status) => {
                let (name, cause) = CREDSSP_ERRORS
                    .iter()
                    .find(|(s, ..)| *s == status)
                    .map_or(("credssp_error", "the domain controller rejects the logon"), |(_, name, cause)| {
                        (*name, *cause)
                    });
                let expected = failure(S::Credssp, K::LogonFailure).with_code(Code::Ntstatus(status));
                spec(
                    name,
                    "selects HYBRID_EX and answers the first CredSSP message with this NTSTATUS in errorCode",
                    cause,
                    expected,
                )
                .on(Server::NLA_EX)
                .fault(Fault::Script(
                    vec![
                        Step::SelectNla,
                        Step::Tls,
                        Step::Read,
                        Step::Write(Reply::TsRequestError(status)),
                    ],
                    End::Close,
                ))
            }
            Scenario::EarlyUserAuthorizationDenied => spec(
                "early_user_authorization_denied",
                "selects HYBRID_EX, authenticates the user, then denies access in the Early User Authorization Result",
                "the user authenticates but may not log on remotely (Remote Desktop Users group, user rights)",
                failure(S::Credssp, K::AccessDenied),
            )
            .on(Server::NLA_EX)
            .fault(Fault::DenyAuthorization),
            Scenario::CloseAfterNtlmAuthenticate => spec(
                "close_after_ntlm_authenticate",
                "selects HYBRID, reads the NTLM AUTHENTICATE message, then closes",
                "the server cannot reach a domain controller to verify the logon, or the CredSSP provider crashed",
                failure(S::Credssp, K::ClosedByPeer),
            )
            .on(Server::NLA)
            .fault(Fault::CredsspCut {
                after_message: 2,
                end: End::Close,
            }),
            Scenario::OldCredsspSkewedClock => spec(
                "old_credssp_skewed_clock",
                "selects NLA and answers the NTLM NEGOTIATE with the CHALLENGE of a Windows Server 2008 R2 ten minutes behind, in a CredSSP version 3 TSRequest; closes after the client's next message",
                "an unpatched Windows Server 2008 R2 (no CVE-2018-0886 update) whose clock drifted: scan flags credssp_oracle_unpatched and clock_skew",
                failure(S::Credssp, K::ClosedByPeer),
            )
            .on(Server::NLA_EX)
            .fault(Fault::Script(
                vec![
                    Step::SelectNla,
                    Step::Tls,
                    Step::Read,
                    Step::Write(Reply::OldChallenge {
                        credssp_version: 3,
                        skew_seconds: -600,
                    }),
                    Step::Read,
                ],
                End::Close,
            )),
            Scenario::CloseAfterNtlmNegotiate => spec(
                "close_after_ntlm_negotiate",
                "selects HYBRID, reads the NTLM NEGOTIATE message, then closes without a CHALLENGE",
                "the server's CredSSP (NTLM) provider fails or refuses the client before the password is sent (NTLM disabled by policy, a broken LSA)",
                failure(S::Credssp, K::ClosedByPeer),
            )
            .on(Server::NLA)
            .fault(Fault::CredsspCut {
                after_message: 1,
                end: End::Close,
            }),
            Scenario::CloseDuring(stage) => {
                let (name, cause) = CLOSES
                    .iter()
                    .find(|(s, ..)| *s == stage)
                    .map_or(("close_during", "the server drops the connection"), |(_, name, cause)| {
                        (*name, *cause)
                    });
                spec(
                    name,
                    "selects HYBRID, authenticates, then closes the connection at this stage",
                    cause,
                    failure(stage, K::ClosedByPeer),
                )
                .on(Server::NLA)
                .fault(Fault::EndAt(stage, End::Close))
            }
            Scenario::ServerErrorInfo(code) => {
                let (name, cause) = ERROR_INFOS
                    .iter()
                    .find(|(c, ..)| *c == code)
                    .map_or(("server_error_info", "the server refuses the session"), |(_, name, cause)| {
                        (*name, *cause)
                    });
                let expected = failure(S::SecureSettings, K::ServerErrorInfo).with_code(Code::Errinfo(code));
                spec(
                    name,
                    "answers the Client Info PDU with Set Error Info and a Disconnect Provider Ultimatum, then closes",
                    cause,
                    expected,
                )
                .fault(Fault::Refuse(Refusal::ErrorInfo(code)))
            }
            Scenario::LicensingErrorNoLicenseServer => spec(
                "licensing_error_no_license_server",
                "answers the Client Info PDU with a licensing Error Alert ERR_NO_LICENSE_SERVER, then closes",
                "an RD Session Host whose licensing grace period ended and that finds no RD License Server",
                failure(S::Licensing, K::LicensingError),
            )
            .fault(Fault::Refuse(Refusal::NoLicenseServer)),
            Scenario::SlowServer => spec(
                "slow_server",
                "like success_tls, but waits 3 s before every answer",
                "an overloaded server or a congested link (the demo's 1 s stage timeout fires)",
                failure(S::X224, K::Timeout),
            )
            .on(Server {
                slow: true,
                ..Server::TLS
            }),
            Scenario::SilentDuring(stage) => {
                let (name, cause) = SILENCES
                    .iter()
                    .find(|(s, ..)| *s == stage)
                    .map_or(("silent_during", "the server hangs"), |(_, name, cause)| {
                        (*name, *cause)
                    });
                let row = spec(
                    name,
                    "stops answering at this stage (after authenticating with HYBRID past tls) and holds the connection open",
                    cause,
                    failure(stage, K::Timeout),
                );
                if stage == S::Tls {
                    // Selects TLS, reads the ClientHello, and never answers.
                    row.fault(after_client_hello(None, End::Hold))
                } else {
                    row.on(Server::NLA).fault(Fault::EndAt(stage, End::Hold))
                }
            }
            Scenario::SilentAfterCredsspMessage(message) => {
                let (name, cause) = CREDSSP_SILENCES
                    .iter()
                    .find(|(m, ..)| *m == message)
                    .map_or(("silent_in_credssp", "the server hangs"), |(_, name, cause)| {
                        (*name, *cause)
                    });
                spec(
                    name,
                    "selects HYBRID_EX and stops answering after this CredSSP message of the client",
                    cause,
                    failure(S::Credssp, K::Timeout),
                )
                .on(Server::NLA_EX)
                .fault(Fault::CredsspCut {
                    after_message: message,
                    end: End::Hold,
                })
            }
        }
    }

    /// What the scenario's server is configured with and the one thing that goes wrong: all
    /// the mock server reads of a scenario.
    pub(crate) fn behaviour(&self) -> (Server, Fault) {
        let spec = self.spec();
        (spec.server, spec.fault)
    }

    /// The stable snake_case name of the scenario.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// A one-line description of what the server does.
    pub fn description(&self) -> &'static str {
        self.spec().description
    }

    /// The real-world cause the scenario stands for.
    pub fn cause(&self) -> &'static str {
        self.spec().cause
    }

    /// What a correct probe reports against this scenario (with the probe options of
    /// [`crate::demo::demo_options`]: the mock credentials, a 1 s stage timeout, and the
    /// fixtures' test CA trusted).
    pub fn expected(&self) -> Expected {
        self.spec().expected
    }
}

/// A certificate scenario's spec, from the fixture manifest.
fn certificate_spec(fixture: &'static str) -> Spec {
    let (name, cause) = CERTIFICATES.iter().find(|(f, ..)| *f == fixture).map_or(
        ("certificate", "a certificate problem"),
        |(_, name, cause)| (*name, *cause),
    );
    let manifest = crate::fixtures::FIXTURES.iter().find(|f| f.name == fixture);
    let expected = match manifest {
        Some(m) if m.default == crate::fixtures::StageResult::Fail => {
            let mut expected =
                Expected::failure(Stage::Certificate, Some(FailureKind::Certificate));
            expected.finding = m
                .findings
                .iter()
                .find(|(_, severity)| *severity == crate::report::Severity::Error)
                .map(|(code, _)| *code);
            expected
        }
        Some(_) => Expected::connected(),
        None => Expected::failure(Stage::Certificate, Some(FailureKind::Internal)),
    };
    Spec {
        name,
        description: "selects TLS and presents a checked-in certificate fixture, then completes the connection sequence",
        cause,
        expected,
        server: Server {
            certificate: Certificate::Fixture(fixture),
            ..Server::TLS
        },
        fault: Fault::None,
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error returned when parsing an unknown scenario name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario `{0}`; see `rdpscope scenarios`")]
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
            assert_eq!(
                scenario.name().parse::<Scenario>().expect("parses"),
                *scenario
            );
            assert!(!scenario.description().is_empty());
            assert!(!scenario.cause().is_empty());
            let expected = scenario.expected();
            assert_eq!(expected.is_connected(), expected.stage == Stage::Connected);
            assert_ne!(
                expected.kind,
                Some(FailureKind::Internal),
                "{scenario}: no manifest entry"
            );
        }
        assert!("bogus".parse::<Scenario>().is_err());
    }

    #[test]
    fn every_certificate_scenario_serves_a_fixture_of_the_manifest() {
        for (fixture, scenario, _) in CERTIFICATES {
            assert!(
                crate::fixtures::FIXTURES.iter().any(|f| f.name == fixture),
                "{scenario} serves unknown fixture {fixture}"
            );
        }
    }

    #[test]
    fn families_are_complete() {
        let codes: Vec<u32> = Scenario::ALL
            .iter()
            .filter_map(|s| match s.expected().code {
                Some(Code::NegFailure(code)) => Some(code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 6]);
        let certificates = Scenario::ALL
            .iter()
            .filter(|s| matches!(s, Scenario::Certificate(_)))
            .count();
        assert_eq!(certificates, CERTIFICATES.len());
        let closes = Scenario::ALL
            .iter()
            .filter(|s| matches!(s, Scenario::CloseDuring(_)))
            .count();
        assert_eq!(closes, CLOSES.len());
        let silences = Scenario::ALL
            .iter()
            .filter(|s| {
                matches!(
                    s,
                    Scenario::SilentDuring(_) | Scenario::SilentAfterCredsspMessage(_)
                )
            })
            .count();
        assert_eq!(silences, SILENCES.len() + CREDSSP_SILENCES.len());
    }

    /// Every row's fault is one this module can act out on its server: a CredSSP fault
    /// needs NLA, the stages to end at are the ones `conn::close_point` (or the end of CredSSP)
    /// reaches. A row that breaks this would fail only when its scenario is served.
    #[test]
    fn every_catalogue_row_can_be_acted_out() {
        for scenario in Scenario::ALL {
            let (server, fault) = scenario.behaviour();
            match fault {
                Fault::CredsspCut { after_message, .. } => {
                    assert!(server.requires_nla(), "{scenario}");
                    assert!((1..=3).contains(&after_message), "{scenario}");
                }
                Fault::DenyAuthorization => assert!(
                    server
                        .security
                        .contains(ironrdp_pdu::nego::SecurityProtocol::HYBRID_EX),
                    "{scenario}"
                ),
                Fault::EndAt(Stage::BasicSettings, _) => {
                    assert!(server.requires_nla(), "{scenario}")
                }
                Fault::EndAt(stage, _) => assert!(
                    matches!(
                        stage,
                        Stage::ChannelConnection
                            | Stage::SecureSettings
                            | Stage::Capabilities
                            | Stage::Finalization
                    ),
                    "{scenario}: no acceptor state ends at {stage}"
                ),
                // A script upgrades to TLS only after it selected a protocol that does.
                Fault::Script(script, _) => {
                    if let Some(tls) = script.iter().position(|step| *step == Step::Tls) {
                        assert!(
                            script[..tls].iter().any(|step| matches!(
                                step,
                                Step::SelectNla | Step::Write(Reply::Confirm(_))
                            )),
                            "{scenario}: TLS before a protocol was selected"
                        );
                    }
                }
                Fault::None | Fault::NotListening | Fault::Refuse(_) => {}
            }
        }
    }
}
