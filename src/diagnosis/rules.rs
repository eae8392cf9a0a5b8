//! Rules: a probe failure → the mstsc codes a Windows client would most likely show and the
//! likely causes, most likely first.

use serde::Serialize;

use super::causes::{cause, Cause};
use super::codes::{self, CodeTable};
use crate::{FailureKind, Stage, Step};

/// An mstsc disconnect reason with its extended reason, as the client shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MstscCode {
    /// Disconnect reason ("error code"), e.g. 0x904.
    pub disconnect: u32,
    /// Its name, when the table knows it.
    pub disconnect_name: Option<&'static str>,
    /// Extended disconnect reason ("extended error code"), e.g. 0x7.
    pub extended: u32,
    /// Its name, when the table knows it.
    pub extended_name: Option<&'static str>,
    /// `error code 0x904, extended error code 0x7`.
    pub display: String,
}

impl MstscCode {
    fn new(disconnect: u32, extended: u32) -> Self {
        Self {
            disconnect,
            disconnect_name: codes::mstsc_disconnect(disconnect).map(|c| c.name),
            extended,
            extended_name: codes::extended_disconnect(extended).map(|c| c.name),
            display: format!("error code 0x{disconnect:X}, extended error code 0x{extended:X}"),
        }
    }
}

/// What the knowledge base says about a failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The codes mstsc would most likely show for this failure.
    pub mstsc: Vec<MstscCode>,
    /// The likely causes, most likely first, each with how to confirm and fix it.
    pub causes: Vec<&'static Cause>,
}

/// One rule. `code` matches the failure's RDP_NEG_FAILURE, NTSTATUS or ERRINFO code when set;
/// rules are tried in order, the first match wins. The extended reason `ERRINFO` means "the
/// ERRINFO code itself" (mstsc reports the server's ERRINFO as the extended reason).
struct Rule {
    stage: Option<Stage>,
    kind: FailureKind,
    code: Option<u32>,
    /// Matches the decisive certificate finding when set.
    finding: Option<&'static [FindingCode]>,
    /// Matches the step the failure followed when set.
    after: Option<Step>,
    mstsc: &'static [(u32, u32)],
    causes: &'static [&'static str],
}

const ERRINFO_AS_EXTENDED: u32 = u32::MAX;

const fn rule(
    stage: Option<Stage>,
    kind: FailureKind,
    code: Option<u32>,
    mstsc: &'static [(u32, u32)],
    causes: &'static [&'static str],
) -> Rule {
    Rule {
        stage,
        kind,
        code,
        finding: None,
        after: None,
        mstsc,
        causes,
    }
}

impl Rule {
    /// The rule, for failures that followed `step` only.
    const fn after(mut self, step: Step) -> Rule {
        self.after = Some(step);
        self
    }
}

const fn certificate_rule(
    findings: &'static [FindingCode],
    mstsc: &'static [(u32, u32)],
    causes: &'static [&'static str],
) -> Rule {
    Rule {
        stage: Some(Stage::Certificate),
        kind: FailureKind::Certificate,
        code: None,
        finding: Some(findings),
        after: None,
        mstsc,
        causes,
    }
}

use crate::cert::FindingCode;
use FailureKind as K;

/// mstsc's "socket closed" disconnect reason, the 0x904 of "0x904 / extended 0x7".
const SOCKET_CLOSED: u32 = 0x904;

static RULES: &[Rule] = &[
    rule(
        Some(Stage::Dns),
        K::DnsFailure,
        None,
        &[(0x104, 0)],
        &["dns"],
    ),
    rule(Some(Stage::Dns), K::Timeout, None, &[(0x104, 0)], &["dns"]),
    rule(
        Some(Stage::Tcp),
        K::Refused,
        None,
        &[(0x204, 0)],
        &["service_not_listening", "port_blocked"],
    ),
    // No answer to the SYN: a firewall that drops is far more common than a host that is
    // down; a slow path rarely takes the whole connect timeout.
    rule(
        Some(Stage::Tcp),
        K::Timeout,
        None,
        &[(0x204, 0)],
        &["port_blocked", "host_unreachable", "slow_network"],
    ),
    // An ICMP answer: the message names the sender; a rejecting firewall first.
    rule(
        Some(Stage::Tcp),
        K::Unreachable,
        None,
        &[(0x204, 0)],
        &["port_blocked", "host_unreachable"],
    ),
    rule(
        Some(Stage::X224),
        K::NotRdp,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["wrong_service"],
    ),
    rule(
        Some(Stage::X224),
        K::ProtocolError,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["wrong_service", "middlebox_reset"],
    ),
    rule(
        Some(Stage::X224),
        K::Timeout,
        None,
        &[(0x108, 0)],
        &["service_hung", "slow_network"],
    ),
    // A FIN (0x904 in mstsc) or a RST (0x404): which of the two a server that closes
    // without reading sends depends on timing, so both are closed_by_peer.
    rule(
        Some(Stage::X224),
        K::ClosedByPeer,
        None,
        &[(SOCKET_CLOSED, 0), (0x404, 0)],
        &["client_refused_before_negotiation", "middlebox_reset"],
    ),
    rule(
        Some(Stage::X224),
        K::NegotiationFailure,
        Some(3),
        &[(SOCKET_CLOSED, 0)],
        &["cert_key_unreadable"],
    ),
    rule(
        Some(Stage::X224),
        K::NegotiationFailure,
        Some(5),
        &[(0xB09, 0)],
        &["nla_required"],
    ),
    rule(
        Some(Stage::X224),
        K::NegotiationFailure,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["security_layer_mismatch"],
    ),
    rule(
        Some(Stage::X224),
        K::UnsupportedSecurity,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["legacy_server", "security_layer_mismatch"],
    ),
    rule(
        Some(Stage::Tls),
        K::ClosedByPeer,
        None,
        &[(SOCKET_CLOSED, 0x7)],
        &["cert_key_unreadable", "tls_mismatch", "middlebox_reset"],
    ),
    rule(
        Some(Stage::Tls),
        K::TlsAlert,
        None,
        &[(SOCKET_CLOSED, 0x7)],
        &["tls_mismatch", "cert_key_unreadable"],
    ),
    rule(
        Some(Stage::Tls),
        K::TlsError,
        None,
        &[(SOCKET_CLOSED, 0x7)],
        &["legacy_server", "tls_mismatch", "cert_unusable"],
    ),
    rule(
        Some(Stage::Tls),
        K::Timeout,
        None,
        &[(0x108, 0)],
        &["service_hung", "slow_network"],
    ),
    // SSL_ERR_CERT_EXPIRED: "expired or invalid"; a changed certificate is "unexpected".
    certificate_rule(
        &[FindingCode::Expired, FindingCode::NotYetValid],
        &[(0x1B07, 0)],
        &["cert_expired"],
    ),
    certificate_rule(
        &[FindingCode::PinMismatch, FindingCode::CertificateChanged],
        &[(0x907, 0)],
        &["cert_changed"],
    ),
    certificate_rule(
        &[
            FindingCode::SelfSigned,
            FindingCode::UntrustedIssuer,
            FindingCode::ChainIncomplete,
            FindingCode::ChainOrder,
            FindingCode::NameMismatch,
        ],
        &[(0x1B07, 0)],
        &["cert_identity"],
    ),
    rule(
        Some(Stage::Certificate),
        K::Certificate,
        None,
        &[(0x1B07, 0)],
        &["cert_unusable", "cert_identity", "cert_expired"],
    ),
    // mstsc reports NLA logon failures as SSL_ERR_* codes (n << 8 | 7), one per NTSTATUS.
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_006D),
        &[(0x807, 0)],
        &["wrong_credentials"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_006A),
        &[(0x807, 0)],
        &["wrong_credentials"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_0064),
        &[(0xA07, 0)],
        &["wrong_credentials"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_0072),
        &[(0xB07, 0)],
        &["account_state"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_006E),
        &[(0xC07, 0)],
        &["account_state"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_0234),
        &[(0xD07, 0)],
        &["account_state", "wrong_credentials"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_0193),
        &[(0xE07, 0)],
        &["account_state"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_0071),
        &[(0xF07, 0)],
        &["account_state"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_006F),
        &[(0x1007, 0)],
        &["account_state"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_0070),
        &[(0x1107, 0)],
        &["account_state"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_0224),
        &[(0x1207, 0)],
        &["account_state"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_015B),
        &[(0x1307, 0)],
        &["not_authorized"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        Some(0xC000_005E),
        &[(0x1807, 0)],
        &["auth_backend"],
    ),
    rule(
        Some(Stage::Credssp),
        K::CredsspError,
        Some(0x8009_0324),
        &[(0x1D07, 0)],
        &["auth_backend"],
    ),
    rule(
        Some(Stage::Credssp),
        K::LogonFailure,
        None,
        &[(0x807, 0)],
        &["account_state", "wrong_credentials"],
    ),
    // The Early User Authorization Result has no SSL_ERR code of its own; mstsc reports the
    // refusal like the server's insufficient-privileges error.
    rule(
        Some(Stage::Credssp),
        K::AccessDenied,
        None,
        &[(SOCKET_CLOSED, 0x9)],
        &["not_authorized"],
    ),
    // mstsc asks for credentials instead of failing: no code to show.
    rule(
        Some(Stage::Credssp),
        K::CredentialsRequired,
        None,
        &[],
        &["nla_required"],
    ),
    // A close right after the NTLM AUTHENTICATE message, without an errorCode: how servers
    // that send none (older Windows, xrdp, FreeRDP, or any server when the client announced
    // a CredSSP version before 3) reject credentials. Before it, the password was never
    // checked: not a credential problem.
    rule(
        Some(Stage::Credssp),
        K::ClosedByPeer,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["wrong_credentials", "account_state", "auth_backend"],
    )
    .after(Step::AuthenticateSent),
    rule(
        Some(Stage::Credssp),
        K::ClosedByPeer,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["auth_backend", "server_drop"],
    ),
    rule(
        Some(Stage::Credssp),
        K::CredsspError,
        None,
        &[(0x807, 0)],
        &["auth_backend", "wrong_credentials"],
    ),
    rule(
        None,
        K::ServerErrorInfo,
        Some(0x9),
        &[(SOCKET_CLOSED, ERRINFO_AS_EXTENDED)],
        &["not_authorized"],
    ),
    rule(
        None,
        K::ServerErrorInfo,
        Some(0xA),
        &[(SOCKET_CLOSED, ERRINFO_AS_EXTENDED)],
        &["fresh_credentials"],
    ),
    rule(
        None,
        K::ServerErrorInfo,
        Some(0x1),
        &[(0x3, ERRINFO_AS_EXTENDED)],
        &["admin_disconnect"],
    ),
    rule(
        None,
        K::ServerErrorInfo,
        Some(0x2),
        &[(0x3, ERRINFO_AS_EXTENDED)],
        &["admin_disconnect"],
    ),
    rule(
        None,
        K::ServerErrorInfo,
        None,
        &[(SOCKET_CLOSED, ERRINFO_AS_EXTENDED)],
        &["server_refuses_session", "licensing"],
    ),
    rule(
        Some(Stage::Licensing),
        K::LicensingError,
        None,
        &[(0x3, 0x101)],
        &["licensing"],
    ),
    rule(None, K::Redirected, None, &[(0x3, 0)], &["broker_redirect"]),
    rule(
        None,
        K::UnsupportedSecurity,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["legacy_server"],
    ),
    rule(
        None,
        K::Timeout,
        None,
        &[(0x108, 0)],
        &["slow_network", "server_drop"],
    ),
    rule(
        None,
        K::ClosedByPeer,
        None,
        &[(SOCKET_CLOSED, 0), (0x404, 0)],
        &["server_drop", "server_refuses_session", "middlebox_reset"],
    ),
    rule(
        None,
        K::ProtocolError,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["server_drop"],
    ),
    // The path broke after the connection was established (an ICMP error surfaced).
    rule(
        None,
        K::Unreachable,
        None,
        &[(SOCKET_CLOSED, 0)],
        &["host_unreachable", "middlebox_reset"],
    ),
];

/// The protocol code a failure carried, by the protocol it comes from: at most one per
/// failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// An RDP_NEG_FAILURE `failureCode`.
    NegFailure(u32),
    /// The NTSTATUS of a CredSSP `errorCode` (or the `SEC_E_*` code of an SSPI failure).
    Ntstatus(u32),
    /// The `errorInfo` of a Set Error Info PDU.
    Errinfo(u32),
    /// The description of a TLS alert the server sent (RFC 8446 6.2).
    TlsAlert(u8),
}

impl Code {
    /// The number on the wire.
    pub const fn value(self) -> u32 {
        match self {
            Code::NegFailure(code) | Code::Ntstatus(code) | Code::Errinfo(code) => code,
            Code::TlsAlert(description) => description as u32,
        }
    }

    /// The code's symbolic name from its table (`UNKNOWN` for an RDP_NEG_FAILURE code the
    /// table lacks, `None` for an unknown NTSTATUS or ERRINFO), or the alert's name as rustls
    /// spells it (`HandshakeFailure`).
    pub fn name(self) -> Option<String> {
        match self {
            Code::NegFailure(code) => Some(
                codes::neg_failure(code)
                    .map_or("UNKNOWN", |c| c.name)
                    .to_owned(),
            ),
            Code::Ntstatus(code) => codes::ntstatus(code).map(|c| c.name.to_owned()),
            Code::Errinfo(code) => codes::errinfo(code).map(|c| c.name.to_owned()),
            Code::TlsAlert(description) => {
                Some(format!("{:?}", rustls::AlertDescription::from(description)))
            }
        }
    }
}

/// What the knowledge base needs to know about a probe failure: where it failed, how, the
/// code the server sent, and the decisive certificate finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureKey {
    /// The stage that failed.
    pub stage: Stage,
    /// How it failed.
    pub kind: FailureKind,
    /// The protocol code the server sent, if any.
    pub code: Option<Code>,
    /// The decisive certificate finding, when the certificate stage failed.
    pub finding: Option<FindingCode>,
    /// The last step before the failure.
    pub after_step: Option<Step>,
}

/// What the knowledge base says about a probe failure; `None` for failures that are not the
/// server's or the network's doing (internal errors).
pub fn diagnose(key: &FailureKey) -> Option<Diagnosis> {
    let code = key.code.map(Code::value);
    let errinfo = match key.code {
        Some(Code::Errinfo(code)) => Some(code),
        _ => None,
    };
    let rule = RULES.iter().find(|r| {
        r.kind == key.kind
            && r.stage.is_none_or(|s| s == key.stage)
            && r.code.is_none_or(|c| Some(c) == code)
            && r.finding
                .is_none_or(|f| key.finding.is_some_and(|found| f.contains(&found)))
            && r.after.is_none_or(|step| key.after_step == Some(step))
    })?;
    Some(Diagnosis {
        mstsc: rule
            .mstsc
            .iter()
            .map(|&(disconnect, extended)| {
                let extended = if extended == ERRINFO_AS_EXTENDED {
                    errinfo.unwrap_or(0)
                } else {
                    extended
                };
                MstscCode::new(disconnect, extended)
            })
            .collect(),
        causes: rule.causes.iter().filter_map(|id| cause(id)).collect(),
    })
}

/// Whether rule `r` is about `code` of `table` (for `explain`).
fn about(r: &Rule, table: CodeTable, code: u32) -> bool {
    match table {
        CodeTable::NegFailure => {
            r.kind == K::NegotiationFailure && r.code.is_none_or(|c| c == code)
        }
        CodeTable::Ntstatus => {
            matches!(r.kind, K::LogonFailure | K::CredsspError) && r.code.is_none_or(|c| c == code)
        }
        CodeTable::Errinfo => r.kind == K::ServerErrorInfo && r.code.is_none_or(|c| c == code),
        CodeTable::MstscDisconnect => r.mstsc.iter().any(|&(d, _)| d == code),
        CodeTable::ExtendedDisconnect => r.mstsc.iter().any(|&(_, e)| {
            e == code || (e == ERRINFO_AS_EXTENDED && r.code.is_none_or(|c| c == code))
        }),
        CodeTable::DisconnectReason => false,
    }
}

/// The causes the rules name for `code` of `table`, most likely first (for `explain`).
pub(super) fn causes_for_code(table: CodeTable, code: u32) -> Vec<&'static Cause> {
    let mut ids: Vec<&'static str> = Vec::new();
    for r in RULES.iter().filter(|r| about(r, table, code)) {
        for id in r.causes {
            if !ids.contains(id) {
                ids.push(id);
            }
        }
        // For protocol codes the first (most specific) rule is the answer; the disconnect
        // reasons collect every rule that reports them.
        if matches!(
            table,
            CodeTable::NegFailure | CodeTable::Ntstatus | CodeTable::Errinfo
        ) {
            break;
        }
    }
    ids.into_iter().filter_map(cause).collect()
}

/// The stages where `code` of `table` arises, from the rules (for `explain`).
pub(super) fn stages_for_code(table: CodeTable, code: u32) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for r in RULES.iter().filter(|r| about(r, table, code)) {
        let first = match (r.stage, r.kind) {
            (Some(stage), _) => {
                stages.push(stage);
                continue;
            }
            // Set Error Info arrives after the Client Info PDU, or later.
            (None, K::ServerErrorInfo) => Stage::SecureSettings,
            // Other stage-less rules: anything after authentication.
            (None, _) => Stage::BasicSettings,
        };
        stages.extend(
            Stage::ALL
                .iter()
                .filter(|s| (first..=Stage::Finalization).contains(s)),
        );
    }
    stages.sort();
    stages.dedup();
    stages
}

#[cfg(test)]
mod tests {
    use super::{cause, RULES};

    /// `diagnose` looks causes up by id and would silently drop one that does not exist.
    #[test]
    fn every_cause_a_rule_names_exists() {
        for (index, rule) in RULES.iter().enumerate() {
            assert!(!rule.causes.is_empty(), "rule {index} names no cause");
            for id in rule.causes {
                assert!(
                    cause(id).is_some(),
                    "rule {index} names unknown cause `{id}`"
                );
            }
        }
    }
}
