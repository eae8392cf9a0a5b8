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
