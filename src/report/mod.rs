//! The one [`Report`] type produced by a probe, and its renderers.
//!
//! `--json` is the serde serialisation of [`Report`]; the human report is [`render_human`].

mod human;

pub use human::{render_human, render_human_traced};

use std::borrow::Cow;

use serde::Serialize;

use crate::cert::FindingCode;
use crate::diagnosis::Code;
use crate::{FailureKind, Stage, Step};

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The whole connection sequence completed.
    Connected,
    /// A stage failed.
    Failed,
    /// The stage given with `--until` was reached.
    Reached,
}

/// Status of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StageStatus {
    /// The stage completed.
    Ok,
    /// The stage failed; the probe stopped here.
    Failed,
    /// The stage does not apply to this connection (e.g. CredSSP under TLS security).
    Skipped,
    /// The probe stopped before this stage.
    NotReached,
}

impl StageStatus {
    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            StageStatus::Ok => "ok",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
            StageStatus::NotReached => "not reached",
        }
    }
}

/// The result of one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StageResult {
    /// Which stage.
    pub stage: Stage,
    /// What happened.
    pub status: StageStatus,
    /// Wall time spent in the stage, in milliseconds (null when not reached or skipped).
    pub elapsed_ms: Option<f64>,
    /// The facts learned at this stage, in one line.
    pub detail: Option<String>,
    /// The steps the stage went through, in order.
    pub steps: Vec<StepRecord>,
}

/// One step inside a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StepRecord {
    /// Which step.
    pub step: Step,
    /// When, in milliseconds since the probe started.
    pub at_ms: f64,
    /// What the step showed, in one line (for `sent` and `received`: the PDU's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'static, str>>,
}

impl StepRecord {
    /// What a reader sees: the step's label, or for a PDU step the PDU and its direction.
    pub fn label(&self) -> String {
        match (self.step, &self.detail) {
            (Step::Sent | Step::Received, Some(pdu)) => format!("{pdu} {}", self.step.label()),
            _ => self.step.label().to_owned(),
        }
    }
}

/// Which way a PDU went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// From the client to the server.
    Sent,
    /// From the server to the client.
    Received,
}

/// One PDU of the trail (`--trace`, JSON `trace`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TraceEntry {
    /// When, in milliseconds since the probe started.
    pub at_ms: f64,
    /// Which way.
    pub direction: Direction,
    /// The stage the probe was in.
    pub stage: Stage,
    /// The last step before it, if any.
    pub step: Option<Step>,
    /// The decoded name (`MCS Connect Response`, `TSRequest: NTLM CHALLENGE`, ...); secrets
    /// are shown only as their kind and size (`[NTLMv2 response, 24 bytes]`).
    pub name: Cow<'static, str>,
    /// The PDU's size in bytes.
    pub size: usize,
}

/// The failure that stopped the probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProbeError {
    /// The stage that failed.
    pub stage: Stage,
    /// The kind of failure.
    pub kind: FailureKind,
    /// A plain-English description.
    pub message: String,
    /// The protocol code the server sent: RDP_NEG_FAILURE, NTSTATUS, ERRINFO or a TLS alert.
    /// JSON writes it as the field of its protocol and its name beside it
    /// (`neg_failure_code` / `neg_failure_name`, `ntstatus` / `ntstatus_name`, `errinfo` /
    /// `errinfo_name`, `tls_alert`).
    #[serde(flatten, serialize_with = "serialize_code")]
    pub code: Option<Code>,
    /// The decisive certificate finding (e.g. `expired`), when the certificate stage failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<FindingCode>,
    /// The last step before the failure (e.g. `authenticate_sent`: the server ended the
    /// connection after it had the NTLM AUTHENTICATE message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_step: Option<Step>,
}

/// A failure's code as JSON writes it: the field of its protocol and, beside it, its name.
fn serialize_code<S: serde::Serializer>(code: &Option<Code>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = s.serialize_map(None)?;
    if let Some(code) = *code {
        let name = code.name();
        let (number, named) = match code {
            Code::NegFailure(_) => ("neg_failure_code", "neg_failure_name"),
            Code::Ntstatus(_) => ("ntstatus", "ntstatus_name"),
            Code::Errinfo(_) => ("errinfo", "errinfo_name"),
            Code::TlsAlert(_) => ("", "tls_alert"),
        };
        if !number.is_empty() {
            map.serialize_entry(number, &code.value())?;
        }
        if let Some(name) = name {
            map.serialize_entry(named, &name)?;
        }
    }
    map.end()
}

impl ProbeError {
    /// What the knowledge base needs of this failure: the stage, the kind, the code the
    /// server sent (RDP_NEG_FAILURE, else NTSTATUS, else ERRINFO) and the decisive finding.
    pub fn key(&self) -> crate::diagnosis::FailureKey {
        crate::diagnosis::FailureKey {
            stage: self.stage,
            kind: self.kind,
            code: self.code,
            finding: self.finding,
            after_step: self.after_step,
        }
    }

    /// A failure with no protocol codes attached.
    ///
    /// The message is [escaped](crate::text::escape): it may quote what a server sent.
    pub fn new(stage: Stage, kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            stage,
            kind,
            message: crate::text::escape_owned(message.into()),
            code: None,
            finding: None,
            after_step: None,
        }
    }
}

/// What was negotiated in the X.224 exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Negotiation {
    /// Protocols offered in RDP_NEG_REQ (`rdp`, `tls`, `hybrid`, `hybrid_ex`, ...).
    pub requested: Vec<String>,
    /// The raw requestedProtocols value.
    pub requested_raw: u32,
    /// The protocol selected by the server in RDP_NEG_RSP (null after a failure).
    pub selected: Option<String>,
    /// The raw selectedProtocol value.
    pub selected_raw: Option<u32>,
    /// RDP_NEG_RSP flags by name.
    pub response_flags: Vec<String>,
    /// The raw RDP_NEG_RSP flags byte.
    pub response_flags_raw: Option<u8>,
    /// Whether the Connection Confirm carried an RDP_NEG_RSP / RDP_NEG_FAILURE at all.
    pub negotiation_data_present: bool,
    /// RDP_NEG_FAILURE code, when the server refused.
    pub failure_code: Option<u32>,
    /// RDP_NEG_FAILURE name.
    pub failure_name: Option<String>,
}

/// Facts about the TLS session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TlsInfo {
    /// Negotiated protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// Negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// Number of certificates the server presented.
    pub chain_length: usize,
}

/// Severity of a certificate finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Informational.
    Info,
    /// A problem mstsc would warn about.
    Warning,
    /// A problem that breaks the certificate.
    Error,
}

named!(Severity);

impl Severity {
    /// The stable name, as JSON and the fixtures manifest write it: `info`, `warning`,
    /// `error`.
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding of the certificate analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// What the finding is about, e.g. `expired`, `self_signed`, `untrusted_issuer`.
    pub code: FindingCode,
    /// Plain-English explanation.
    pub message: String,
}

/// Facts about the server certificate and the verdict of the certificate policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// Subject distinguished name of the leaf.
    pub subject: String,
    /// Issuer distinguished name of the leaf.
    pub issuer: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Serial number, hex.
    pub serial: String,
    /// SHA-1 thumbprint of the leaf (as certlm.msc and SSLCertificateSHA1Hash show it), hex.
    pub sha1: String,
    /// SHA-256 fingerprint of the leaf, hex.
    pub sha256: String,
    /// DNS and IP subject alternative names.
    pub subject_alt_names: Vec<String>,
    /// Public key of the leaf, e.g. `ECDSA P-256`, `RSA 2048`.
    pub key: String,
    /// Signature algorithm of the leaf, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// Extended key usages of the leaf by name (empty when the extension is absent).
    pub extended_key_usage: Vec<String>,
    /// Whole days until the leaf expires (negative once expired).
    pub days_remaining: i64,
    /// Whether the chain leads to a trusted root (system roots or `--ca-file`).
    pub trusted: bool,
    /// Whether the leaf matched `--pin` (null without a pin).
    pub pin_matched: Option<bool>,
    /// Number of certificates presented.
    pub chain_length: usize,
    /// Every certificate presented, in the order the server sent them.
    pub chain: Vec<ChainCertificate>,
    /// The policy applied (`strict`, `default`, `warn`, `ignore`).
    pub policy: String,
    /// Every finding, most severe first.
    pub findings: Vec<Finding>,
}

/// One certificate of the presented chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChainCertificate {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// SHA-1 thumbprint, hex.
    pub sha1: String,
}

/// Facts about the CredSSP exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CredsspInfo {
    /// Security package used (`NTLM`).
    pub package: String,
    /// Result (`success`, `failed`, `access_denied`, ...).
    pub result: String,
    /// Whether an Early User Authorization Result PDU was expected (HYBRID_EX).
    pub early_user_authorization: bool,
}

/// The complete result of a probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The target as given (`host:port`).
    pub target: String,
    /// The socket address connected to (null if TCP never connected).
    pub address: Option<String>,
    /// How the probe ended.
    pub outcome: Outcome,
    /// The failed stage, if any.
    pub failed_stage: Option<Stage>,
    /// The `--until` stage, if given.
    pub until: Option<Stage>,
    /// Total wall time in milliseconds.
    pub total_ms: f64,
    /// Every stage in order.
    pub stages: Vec<StageResult>,
    /// The failure, if any.
    pub error: Option<ProbeError>,
    /// X.224 negotiation facts.
    pub negotiation: Option<Negotiation>,
    /// TLS facts.
    pub tls: Option<TlsInfo>,
    /// Certificate facts and findings.
    pub certificate: Option<CertificateInfo>,
    /// CredSSP facts.
    pub credssp: Option<CredsspInfo>,
    /// Whether anything derived from the password left the client: the NTLM AUTHENTICATE
    /// message (whose response can be cracked offline) and after it the TSCredentials.
    /// Never true without NLA: the Client Info PDU carries the user name only.
    pub credentials_sent: bool,
    /// What the reader must know although the probe did not fail, one line each: e.g.
    /// credentials sent to a server whose certificate has errors (`--cert-policy warn`) or
    /// was not checked (`--cert-policy ignore`).
    pub warnings: Vec<String>,
    /// Settings of a `.rdp` connection file this probe could not honour (an RD Gateway, a
    /// load-balancing cookie), one line each; shown first in the human report.
    pub not_honoured: Vec<String>,
    /// What the knowledge base says about the failure: the mstsc codes a Windows client would
    /// most likely show and the likely causes with how to confirm and fix them.
    pub diagnosis: Option<crate::diagnosis::Diagnosis>,
    /// Every PDU sent and received, in order (the TLS handshake records, then the plaintext
    /// PDUs inside TLS).
    pub trace: Vec<TraceEntry>,
}

impl Report {
    /// The process exit code for this report (see the README): 0, the failed stage's code,
    /// or 1 for an internal failure (a bug or a local problem, not the server's doing).
    pub fn exit_code(&self) -> i32 {
        match &self.error {
            Some(error) if error.kind == FailureKind::Internal => 1,
            Some(error) => error.stage.exit_code(),
            None => 0,
        }
    }

    /// The one-line verdict, e.g. `failed at credssp: logon failure (0xC000006D STATUS_LOGON_FAILURE)`.
    /// Warnings (see [`Report::warnings`]) follow the verdict, so that it never reads as a
    /// clean success when credentials went to a doubtful server.
    pub fn verdict(&self) -> String {
        let mut verdict = match (&self.outcome, &self.error) {
            (Outcome::Failed, Some(error)) => {
                format!("failed at {}: {}", error.stage, error.message)
            }
            (Outcome::Reached, _) => format!(
                "reached {} in {:.1} ms",
                self.until.map_or("the requested stage", Stage::name),
                self.total_ms
            ),
            _ => format!("connected in {:.1} ms", self.total_ms),
        };
        for warning in &self.warnings {
            verdict.push_str("; warning: ");
            verdict.push_str(warning);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `code` field in Rust, the field of its protocol and its name in JSON: the shape
    /// the README documents and scripts read.
    #[test]
    fn a_code_is_written_as_the_field_of_its_protocol() {
        let json = |code| {
            let mut error = ProbeError::new(Stage::X224, FailureKind::NegotiationFailure, "m");
            error.code = code;
            let value = serde_json::to_value(&error).expect("json");
            let mut keys: Vec<String> = value
                .as_object()
                .expect("an object")
                .iter()
                .filter(|(key, _)| !["stage", "kind", "message"].contains(&key.as_str()))
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            keys.sort();
            keys.join(" ")
        };
        assert_eq!(json(None), "");
        assert_eq!(
            json(Some(Code::NegFailure(5))),
            "neg_failure_code=5 neg_failure_name=\"HYBRID_REQUIRED_BY_SERVER\""
        );
        assert_eq!(
            json(Some(Code::NegFailure(99))),
            "neg_failure_code=99 neg_failure_name=\"UNKNOWN\""
        );
        assert_eq!(
            json(Some(Code::Ntstatus(0xC000_006D))),
            format!(
                "ntstatus={} ntstatus_name=\"STATUS_LOGON_FAILURE\"",
                0xC000_006Du32
            )
        );
        assert_eq!(json(Some(Code::Ntstatus(0xDEAD))), "ntstatus=57005");
        assert_eq!(
            json(Some(Code::Errinfo(7))),
            "errinfo=7 errinfo_name=\"ERRINFO_SERVER_DENIED_CONNECTION\""
        );
        assert_eq!(
            json(Some(Code::TlsAlert(40))),
            "tls_alert=\"HandshakeFailure\""
        );
    }
}
