//! The kinds of failure the probe reports, shared with the mock scenarios' expectations.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong at the failed stage, in terms a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The host name could not be resolved.
    DnsFailure,
    /// The TCP connection was actively refused (RST on SYN): nothing listens, or a firewall rejects.
    Refused,
    /// No route to the host: an ICMP error answered (host, network or port unreachable,
    /// administratively prohibited; usually a firewall), or this machine has no route.
    Unreachable,
    /// The peer ended the connection while the client waited: with a FIN, or with a RST.
    /// The two are one kind because a server that closes without reading what the client
    /// sent makes its kernel send a RST instead of a FIN depending on timing alone.
    ClosedByPeer,
    /// The stage did not finish within its timeout (at tcp: no answer to the SYN, filtered).
    Timeout,
    /// Something answered that is not an RDP server (HTTP, SSH, TLS-first, other bytes).
    NotRdp,
    /// The server sent a malformed or unexpected RDP message.
    ProtocolError,
    /// The server answered the X.224 request with RDP_NEG_FAILURE.
    NegotiationFailure,
    /// The server selected Standard RDP Security or a protocol the client did not offer.
    UnsupportedSecurity,
    /// The server sent a TLS alert.
    TlsAlert,
    /// The TLS handshake failed without an alert from the server.
    TlsError,
    /// The server certificate failed the certificate policy.
    Certificate,
    /// NLA authentication was rejected (NTSTATUS in the report).
    LogonFailure,
    /// The server denied access in the Early User Authorization Result (HYBRID_EX).
    AccessDenied,
    /// The server requires NLA and no credentials were given.
    CredentialsRequired,
    /// Another CredSSP / NTLM failure.
    CredsspError,
    /// The server sent a Set Error Info PDU with a non-zero ERRINFO code.
    ServerErrorInfo,
    /// The server sent a licensing error.
    LicensingError,
    /// The server redirected the client elsewhere (Server Redirection PDU).
    Redirected,
    /// A local I/O or internal failure not caused by the server.
    Internal,
}

impl FailureKind {
    /// The stable snake_case name used in JSON and in the human report.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::DnsFailure => "dns_failure",
            FailureKind::Refused => "refused",
            FailureKind::Unreachable => "unreachable",
            FailureKind::ClosedByPeer => "closed_by_peer",
            FailureKind::Timeout => "timeout",
            FailureKind::NotRdp => "not_rdp",
            FailureKind::ProtocolError => "protocol_error",
            FailureKind::NegotiationFailure => "negotiation_failure",
            FailureKind::UnsupportedSecurity => "unsupported_security",
            FailureKind::TlsAlert => "tls_alert",
            FailureKind::TlsError => "tls_error",
            FailureKind::Certificate => "certificate",
            FailureKind::LogonFailure => "logon_failure",
            FailureKind::AccessDenied => "access_denied",
            FailureKind::CredentialsRequired => "credentials_required",
            FailureKind::CredsspError => "credssp_error",
            FailureKind::ServerErrorInfo => "server_error_info",
            FailureKind::LicensingError => "licensing_error",
            FailureKind::Redirected => "redirected",
            FailureKind::Internal => "internal",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
