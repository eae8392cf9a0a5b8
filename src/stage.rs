//! The one stage vocabulary used by the probe, the mock servers, the reports and the CLI.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One stage of an RDP connection, in the order a client walks them.
///
/// The snake_case names and exit codes are a public contract (see the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Name resolution of the target host.
    Dns,
    /// TCP connect.
    Tcp,
    /// X.224 Connection Request / Confirm with RDP_NEG_REQ / RDP_NEG_RSP or RDP_NEG_FAILURE.
    X224,
    /// TLS handshake (the enhanced security upgrade).
    Tls,
    /// Validation of the server certificate against the chosen policy.
    Certificate,
    /// CredSSP / NLA, including the Early User Authorization Result of HYBRID_EX.
    Credssp,
    /// MCS Connect Initial / Connect Response (GCC conference).
    BasicSettings,
    /// MCS Erect Domain, Attach User and Channel Join.
    ChannelConnection,
    /// Client Info PDU, until the server answers it.
    SecureSettings,
    /// Licensing exchange.
    Licensing,
    /// Demand Active / Confirm Active.
    Capabilities,
    /// Synchronize, Control and Font List / Font Map.
    Finalization,
    /// The connection sequence completed.
    Connected,
}

impl Stage {
    /// Every stage, in connection order.
    pub const ALL: [Stage; 13] = [
        Stage::Dns,
        Stage::Tcp,
        Stage::X224,
        Stage::Tls,
        Stage::Certificate,
        Stage::Credssp,
        Stage::BasicSettings,
        Stage::ChannelConnection,
        Stage::SecureSettings,
        Stage::Licensing,
        Stage::Capabilities,
        Stage::Finalization,
        Stage::Connected,
    ];

    /// The stable snake_case name of the stage.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::X224 => "x224",
            Stage::Tls => "tls",
            Stage::Certificate => "certificate",
            Stage::Credssp => "credssp",
            Stage::BasicSettings => "basic_settings",
            Stage::ChannelConnection => "channel_connection",
            Stage::SecureSettings => "secure_settings",
            Stage::Licensing => "licensing",
            Stage::Capabilities => "capabilities",
            Stage::Finalization => "finalization",
            Stage::Connected => "connected",
        }
    }

    /// The process exit code when the probe fails at this stage (0 for [`Stage::Connected`]).
    pub const fn exit_code(self) -> i32 {
        match self {
            Stage::Dns => 10,
            Stage::Tcp => 11,
            Stage::X224 => 12,
            Stage::Tls => 13,
            Stage::Certificate => 14,
            Stage::Credssp => 15,
            Stage::BasicSettings => 16,
            Stage::ChannelConnection => 17,
            Stage::SecureSettings => 18,
            Stage::Licensing => 19,
            Stage::Capabilities => 20,
            Stage::Finalization => 21,
            Stage::Connected => 0,
        }
    }

    /// A short description of what happens during the stage.
    pub const fn description(self) -> &'static str {
        match self {
            Stage::Dns => "name resolution",
            Stage::Tcp => "TCP connect",
            Stage::X224 => "X.224 Connection Request / Confirm and security negotiation",
            Stage::Tls => "TLS handshake",
            Stage::Certificate => "server certificate validation",
            Stage::Credssp => "CredSSP / NLA authentication",
            Stage::BasicSettings => "MCS Connect Initial / Response (GCC)",
            Stage::ChannelConnection => "MCS Erect Domain, Attach User, Channel Join",
            Stage::SecureSettings => "Client Info PDU",
            Stage::Licensing => "licensing exchange",
            Stage::Capabilities => "Demand Active / Confirm Active",
            Stage::Finalization => "Synchronize, Control, Font List / Font Map",
            Stage::Connected => "connection sequence complete",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A step inside a stage: what the client sent or received, or checked, on the way through
/// it. A failure names the step it followed ([`crate::report::ProbeError::after_step`]).
///
/// The snake_case names are a public contract (JSON `steps[].step`, `error.after_step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// x224: the X.224 Connection Request left the client.
    RequestSent,
    /// x224: the X.224 Connection Confirm arrived (selected protocol and flags, or
    /// RDP_NEG_FAILURE).
    ConfirmReceived,
    /// tls: the ClientHello left the client.
    ClientHelloSent,
    /// tls: the ServerHello arrived (version, cipher suite).
    ServerHelloReceived,
    /// tls: the server's certificate chain arrived.
    CertificateReceived,
    /// tls: the handshake completed.
    HandshakeDone,
    /// credssp: the TSRequest with the NTLM NEGOTIATE message left the client.
    NegotiateSent,
    /// credssp: the NTLM CHALLENGE arrived (server names, OS version, clock).
    ChallengeReceived,
    /// credssp: the NTLM AUTHENTICATE message and pubKeyAuth left the client: the server
    /// checks the password now.
    AuthenticateSent,
    /// credssp: the server's pubKeyAuth arrived and verified: the server accepted the
    /// credentials and holds the certificate's key.
    ServerKeyVerified,
    /// credssp: the TSCredentials (encrypted) left the client.
    CredentialsSent,
    /// credssp: the Early User Authorization Result arrived (HYBRID_EX).
    AuthorizationReceived,
    /// A connection-sequence PDU left the client (the step's detail names it).
    Sent,
    /// A connection-sequence PDU arrived (the step's detail names it).
    Received,
}

impl Step {
    /// The stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Step::RequestSent => "request_sent",
            Step::ConfirmReceived => "confirm_received",
            Step::ClientHelloSent => "client_hello_sent",
            Step::ServerHelloReceived => "server_hello_received",
            Step::CertificateReceived => "certificate_received",
            Step::HandshakeDone => "handshake_done",
            Step::NegotiateSent => "negotiate_sent",
            Step::ChallengeReceived => "challenge_received",
            Step::AuthenticateSent => "authenticate_sent",
            Step::ServerKeyVerified => "server_key_verified",
            Step::CredentialsSent => "credentials_sent",
            Step::AuthorizationReceived => "authorization_received",
            Step::Sent => "sent",
            Step::Received => "received",
        }
    }

    /// What a reader sees: `NTLM AUTHENTICATE sent`; `sent` and `received` name their PDU
    /// in the step's detail instead.
    pub const fn label(self) -> &'static str {
        match self {
            Step::RequestSent => "X.224 Connection Request sent",
            Step::ConfirmReceived => "X.224 Connection Confirm received",
            Step::ClientHelloSent => "ClientHello sent",
            Step::ServerHelloReceived => "ServerHello received",
            Step::CertificateReceived => "certificate received",
            Step::HandshakeDone => "handshake done",
            Step::NegotiateSent => "NTLM NEGOTIATE sent",
            Step::ChallengeReceived => "NTLM CHALLENGE received",
            Step::AuthenticateSent => "NTLM AUTHENTICATE sent",
            Step::ServerKeyVerified => "server pubKeyAuth verified",
            Step::CredentialsSent => "TSCredentials sent",
            Step::AuthorizationReceived => "Early User Authorization Result received",
            Step::Sent => "sent",
            Step::Received => "received",
        }
    }
}

named!(Step);

/// Error returned when parsing an unknown stage name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage `{0}` (expected one of: dns, tcp, x224, tls, certificate, credssp, basic_settings, channel_connection, secure_settings, licensing, capabilities, finalization, connected)")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStage(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_exit_codes_are_distinct() {
        let mut codes = std::collections::HashSet::new();
        for stage in Stage::ALL {
            assert_eq!(stage.name().parse::<Stage>().unwrap(), stage);
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.name());
            assert!(codes.insert(stage.exit_code()));
        }
        assert_eq!(Stage::Dns.exit_code(), 10);
        assert_eq!(Stage::Finalization.exit_code(), 21);
        assert!("bogus".parse::<Stage>().is_err());
    }

    #[test]
    fn stages_are_ordered() {
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
