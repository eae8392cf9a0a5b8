//! What a probe's report is expected to show, and the one comparison of a report with it:
//! a suite case's expectation and a mock scenario's both are an [`Expectation`].

use std::time::Duration;

use serde::Serialize;

use crate::cert::FindingCode;
use crate::diagnosis::Code;
use crate::report::Outcome;
use crate::{FailureKind, Report, Stage};

/// What a report must show; every field left `None` (or empty) is not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Expectation {
    /// How the probe ends.
    pub outcome: Option<Outcome>,
    /// The stage that fails (implies a failure).
    pub stage: Option<Stage>,
    /// The kind of failure (implies a failure).
    pub kind: Option<FailureKind>,
    /// The protocol code the failure carries: `Some(None)` when it must carry none.
    #[serde(serialize_with = "serialize_code")]
    pub code: Option<Option<Code>>,
    /// Certificate findings the report must contain.
    pub findings: Vec<FindingCode>,
    /// Certificate findings the report must not contain.
    pub absent_findings: Vec<FindingCode>,
    /// Whether anything derived from the password may have left the client.
    pub credentials_sent: Option<bool>,
    /// The security protocol the server must select (`tls`, `hybrid`, `hybrid_ex`, `rdp`).
    pub protocol: Option<String>,
    /// The longest the whole probe may take.
    #[serde(serialize_with = "serialize_ms")]
    pub max_time: Option<Duration>,
    /// The longest each named stage may take (a stage that did not run fails the limit).
    #[serde(serialize_with = "serialize_stage_ms")]
    pub stage_max_time: Vec<(Stage, Duration)>,
}

fn serialize_code<S: serde::Serializer>(
    code: &Option<Option<Code>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match code {
        None => s.serialize_none(),
        Some(code) => s.serialize_str(&describe_code(*code)),
    }
}

fn serialize_ms<S: serde::Serializer>(limit: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match limit {
        Some(limit) => s.serialize_f64(limit.as_secs_f64() * 1e3),
        None => s.serialize_none(),
    }
}

fn serialize_stage_ms<S: serde::Serializer>(
    limits: &[(Stage, Duration)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = s.serialize_map(Some(limits.len()))?;
    for (stage, limit) in limits {
        map.serialize_entry(stage.name(), &(limit.as_secs_f64() * 1e3))?;
    }
    map.end()
}

/// A code as expectations and mismatches name it: `NTSTATUS 0xC000006D
/// STATUS_LOGON_FAILURE`, or `no code`.
pub fn describe_code(code: Option<Code>) -> String {
    let Some(code) = code else {
        return "no code".to_owned();
    };
    let protocol = match code {
        Code::NegFailure(_) => "RDP_NEG_FAILURE",
        Code::Ntstatus(_) => "NTSTATUS",
        Code::Errinfo(_) => "ERRINFO",
        Code::TlsAlert(_) => "TLS alert",
    };
    match (code, code.name()) {
        (Code::TlsAlert(_), Some(name)) => format!("{protocol} {name}"),
        (_, Some(name)) => format!("{protocol} {:#X} {name}", code.value()),
        (_, None) => format!("{protocol} {:#X}", code.value()),
    }
}

impl Expectation {
    /// The outcome this expectation asks for: as set, else `failed` when it names a
    /// failure, else `connected` (or `reached` for a probe that stops early).
    pub fn effective_outcome(&self, until: Option<Stage>) -> Outcome {
        match self.outcome {
            Some(outcome) => outcome,
            None if self.stage.is_some()
                || self.kind.is_some()
                || matches!(self.code, Some(Some(_))) =>
            {
                Outcome::Failed
            }
            None if until.is_some() => Outcome::Reached,
            None => Outcome::Connected,
        }
    }

    /// `stage/kind` (or `connected`, `reached`, `failed`) as tables show it.
    pub fn summary(&self, until: Option<Stage>) -> String {
        match self.effective_outcome(until) {
            Outcome::Failed => {
                let verdict = match (self.stage, self.kind) {
                    (Some(stage), Some(kind)) => format!("{stage}/{kind}"),
                    (Some(stage), None) => format!("{stage}/*"),
                    (None, Some(kind)) => format!("*/{kind}"),
                    (None, None) => "failed".to_owned(),
                };
                with_code(verdict, self.code.flatten())
            }
            Outcome::Reached => format!("reached {}", until.map_or("the stage", Stage::name)),
            _ => "connected".to_owned(),
        }
    }

    /// Every way `report` differs from this expectation, one short line each (empty when
    /// it meets it).
    pub fn mismatches(&self, report: &Report) -> Vec<String> {
        let mut out = Vec::new();
        let outcome = self.effective_outcome(report.until);
        if report.outcome != outcome {
            out.push(format!(
                "expected {}, got {}",
                outcome_name(outcome),
                observed(report)
            ));
        }
        if outcome == Outcome::Failed {
            if let Some(error) = &report.error {
                if let Some(stage) = self.stage.filter(|&s| s != error.stage) {
                    out.push(format!("stage {} instead of {stage}", error.stage));
                }
                if let Some(kind) = self.kind.filter(|&k| k != error.kind) {
                    out.push(format!("kind {} instead of {kind}", error.kind));
                }
                if let Some(code) = self.code.filter(|&c| c != error.code) {
                    out.push(format!(
                        "{} instead of {}",
                        describe_code(error.code),
                        describe_code(code)
                    ));
                }
            }
        }
        let has = |finding: FindingCode| {
            report
                .certificate
                .as_ref()
                .is_some_and(|c| c.findings.iter().any(|f| f.code == finding))
        };
        for &finding in &self.findings {
            if !has(finding) {
                out.push(format!("no `{finding}` certificate finding"));
            }
        }
        for &finding in &self.absent_findings {
            if has(finding) {
                out.push(format!("a `{finding}` certificate finding"));
            }
        }
        if let Some(sent) = self
            .credentials_sent
            .filter(|&s| s != report.credentials_sent)
        {
            out.push(match sent {
                true => "credentials were not sent".to_owned(),
                false => "credentials were sent".to_owned(),
            });
        }
        if let Some(protocol) = &self.protocol {
            let selected = report
                .negotiation
                .as_ref()
                .and_then(|n| n.selected.as_deref());
            if selected != Some(protocol.as_str()) {
                out.push(format!(
                    "protocol {} instead of {protocol}",
                    selected.unwrap_or("none")
                ));
            }
        }
        if let Some(limit) = self.max_time {
            let limit_ms = limit.as_secs_f64() * 1e3;
            if report.total_ms > limit_ms {
                out.push(format!(
                    "took {:.1} ms, over the {limit_ms:.0} ms limit",
                    report.total_ms
                ));
            }
        }
        for &(stage, limit) in &self.stage_max_time {
            let limit_ms = limit.as_secs_f64() * 1e3;
            let elapsed = report
                .stages
                .iter()
                .find(|s| s.stage == stage)
                .and_then(|s| s.elapsed_ms);
            match elapsed {
                Some(ms) if ms > limit_ms => out.push(format!(
                    "{stage} took {ms:.1} ms, over the {limit_ms:.0} ms limit"
                )),
                Some(_) => {}
                None => out.push(format!("{stage} did not run, so its time limit is not met")),
            }
        }
        out
    }
}

/// The name of an outcome in a mismatch.
fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Failed => "a failure",
        Outcome::Reached => "the --until stage reached",
        _ => "connected",
    }
}

/// What a report shows, as a mismatch names it: `connected`, `reached tls` or
/// `credssp/logon_failure (NTSTATUS 0xC000006D STATUS_LOGON_FAILURE)`.
pub fn observed(report: &Report) -> String {
    match (&report.outcome, &report.error) {
        (Outcome::Failed, Some(error)) => {
            with_code(format!("{}/{}", error.stage, error.kind), error.code)
        }
        (Outcome::Reached, _) => {
            format!("reached {}", report.until.map_or("the stage", Stage::name))
        }
        _ => "connected".to_owned(),
    }
}

/// `verdict (NAME)`: a code by its name (or protocol and number when it has none).
fn with_code(verdict: String, code: Option<Code>) -> String {
    match code {
        Some(code) => format!(
            "{verdict} ({})",
            code.name().unwrap_or_else(|| describe_code(Some(code)))
        ),
        None => verdict,
    }
}
