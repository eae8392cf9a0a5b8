//! The vocabulary a scenario row is written in: what the server is configured with
//! ([`Server`]) and the one thing that goes wrong ([`Fault`]). The catalogue (`scenario`)
//! writes its rows in it; the connections (`conn`, `raw`) act them out. It imports
//! neither, and nothing in it names a scenario.

use ironrdp_pdu::nego::SecurityProtocol;

use crate::Stage;

/// What a scenario's server is configured with, before anything goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Server {
    /// The protocols the server accepts: TLS, or NLA (HYBRID, HYBRID_EX).
    pub(crate) security: SecurityProtocol,
    /// Whether the server knows the user under another password than the probe's.
    pub(crate) wrong_password: bool,
    /// The certificate it presents.
    pub(crate) certificate: Certificate,
    /// Whether it waits before every answer (the slow server).
    pub(crate) slow: bool,
}

impl Server {
    /// A healthy TLS-only server (no NLA) with the configured certificate.
    pub(crate) const TLS: Server = Server {
        security: SecurityProtocol::SSL,
        wrong_password: false,
        certificate: Certificate::Configured,
        slow: false,
    };
    /// A healthy NLA server without Early User Authorization (PROTOCOL_HYBRID).
    pub(crate) const NLA: Server = Server {
        security: SecurityProtocol::HYBRID,
        ..Server::TLS
    };
    /// A healthy NLA server with Early User Authorization (PROTOCOL_HYBRID_EX, and HYBRID for
    /// clients without it).
    pub(crate) const NLA_EX: Server = Server {
        security: SecurityProtocol::HYBRID.union(SecurityProtocol::HYBRID_EX),
        ..Server::TLS
    };

    /// Whether CredSSP runs against the server's credentials.
    pub(crate) fn requires_nla(&self) -> bool {
        self.security
            .intersects(SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX)
    }
}

/// The certificate a scenario's server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Certificate {
    /// The builder's certificate, or a generated self-signed one.
    Configured,
    /// The checked-in fixture of this name (`fixtures/NAME.crt`).
    Fixture(&'static str),
    /// A new self-signed certificate on every connection.
    Fresh,
}

/// The one thing that goes wrong in a scenario, where it strikes and what the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing: the whole connection sequence runs.
    None,
    /// Nothing listens on the port.
    NotListening,
    /// The server is a short script of fixed bytes, then ends the connection.
    Script(Vec<Step>, End),
    /// CredSSP stops after the client's n-th message (1: NTLM NEGOTIATE, 2: NTLM
    /// AUTHENTICATE, 3: TSCredentials) in place of the server's next answer.
    CredsspCut { after_message: u8, end: End },
    /// The user authenticates and is refused in the Early User Authorization Result.
    DenyAuthorization,
    /// The connection ends when the sequence reaches this stage (basic_settings: right after
    /// CredSSP).
    EndAt(Stage, End),
    /// The server answers the Client Info PDU with a refusal, then closes.
    Refuse(Refusal),
}

impl Fault {
    /// How the connection ends at `stage`, if this fault ends it there.
    pub(crate) fn ends_at(&self, stage: Stage) -> Option<End> {
        match *self {
            Fault::EndAt(at, end) if at == stage => Some(end),
            _ => None,
        }
    }
}

/// A refusal sent in answer to the Client Info PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Set Error Info with this ERRINFO code, then an MCS Disconnect Provider Ultimatum.
    ErrorInfo(u32),
    /// A licensing Error Alert ERR_NO_LICENSE_SERVER (ST_TOTAL_ABORT).
    NoLicenseServer,
}

/// How the server ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// FIN (after any reply), then wait for the client to go.
    Close,
    /// RST (SO_LINGER 0).
    Reset,
    /// Go silent, holding the connection open until the client leaves or the server's
    /// timeout runs out.
    Hold,
    /// Go silent for ten minutes whatever the server's timeout: a black hole.
    Swallow,
}

/// One step of a byte script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Read whatever the client sends next (one read).
    Read,
    /// Read the X.224 Connection Request and select NLA: HYBRID_EX when the client offers
    /// it, else HYBRID (as a real server does for a client without Early User Authorization).
    SelectNla,
    /// Accept TLS with the server's certificate.
    Tls,
    /// Send this.
    Write(Reply),
}

/// What a byte script sends; some replies answer the client's last message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// These bytes.
    Bytes(&'static [u8]),
    /// An X.224 Connection Confirm with RDP_NEG_RSP selecting this protocol.
    Confirm(SecurityProtocol),
    /// An X.224 Connection Confirm with RDP_NEG_FAILURE carrying this code.
    NegFailure(u32),
    /// A TLS 1.2 record: fatal alert, handshake_failure (40).
    HandshakeFailureAlert,
    /// A ServerHello of this legacy TLS version (0x0301 TLS 1.0, 0x0302 TLS 1.1) choosing
    /// TLS_RSA_WITH_AES_128_CBC_SHA, whatever the client offered: a server that speaks only it.
    OldServerHello(u16),
    /// A TSRequest carrying only this NTSTATUS in errorCode (MS-CSSP 2.2.1), when the
    /// client's last TSRequest announced CredSSP version 3 or later; nothing below (the
    /// server closes, as Windows does).
    TsRequestError(u32),
    /// The answer to the client's last message, a ClientHello, of a TLS 1.2 server
    /// configured with only these suites: a ServerHello choosing the first of them the
    /// client offers, a protocol_version alert to a ClientHello below TLS 1.2, a
    /// handshake_failure alert when nothing matches.
    ChooseSuite(&'static [u16]),
    /// A TSRequest of this CredSSP version carrying the NTLM CHALLENGE of a Windows Server
    /// 2008 R2 (6.1.7601) whose clock is `skew_seconds` off.
    OldChallenge {
        credssp_version: u32,
        skew_seconds: i64,
    },
}
