//! The human-readable report.

use std::fmt::Write as _;

use super::{Report, StageStatus};
use crate::text::escape as esc;
use crate::Stage;

/// Renders a report as the multi-line text `rdpscope probe` prints.
///
/// Every value is [escaped](crate::text::escape) where it is written, so that a newline, an
/// escape sequence or a bidi control a server put into a banner or a certificate name can
/// neither start a line of its own (a forged verdict) nor drive the terminal.
pub fn render_human(report: &Report) -> String {
    render(report, false)
}

/// [`render_human`] with every stage's steps and, after the stage table, the PDU trail
/// (`rdpscope probe --trace`).
pub fn render_human_traced(report: &Report) -> String {
    render(report, true)
}

/// The steps of a stage, one per line under it.
fn render_steps(out: &mut String, steps: &[super::StepRecord], failed: bool) {
    for (index, step) in steps.iter().enumerate() {
        let marker = if failed && index + 1 == steps.len() {
            "  <- the failure followed this step"
        } else {
            ""
        };
        let detail = step
            .detail
            .as_deref()
            .filter(|_| !matches!(step.step, crate::Step::Sent | crate::Step::Received))
            .map_or_else(String::new, |d| format!(": {}", esc(d)));
        let _ = writeln!(
            out,
            "  {:<19} {:>23}  {}{detail}{marker}",
            "",
            format!("@{:.1} ms", step.at_ms),
            esc(&step.label()),
        );
    }
}

/// The PDU trail: every PDU sent and received.
fn render_trace(out: &mut String, report: &Report) {
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "pdu trail ({} PDUs; > sent, < received):",
        report.trace.len()
    );
    let _ = writeln!(
        out,
        "  {:>10}  {:<19} {:<23} {:>6}  pdu",
        "time", "stage", "after step", "bytes"
    );
    for entry in &report.trace {
        let arrow = match entry.direction {
            super::Direction::Sent => ">",
            _ => "<",
        };
        let _ = writeln!(
            out,
            "  {:>10}  {:<19} {:<23} {:>6}  {arrow} {}",
            format!("{:.1} ms", entry.at_ms),
            entry.stage.name(),
            entry.step.map_or("", crate::Step::name),
            entry.size,
            esc(&entry.name)
        );
    }
}

/// Whether and why credentials were or were not sent, for the `credentials:` line.
fn credentials_line(report: &Report) -> String {
    let credssp = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::Credssp)
        .map(|s| s.status);
    if report.credentials_sent {
        let mut line = "sent inside CredSSP (NTLM)".to_owned();
        for warning in &report.warnings {
            line.push_str("; ");
            line.push_str(warning);
        }
        return line;
    }
    let why = match (credssp, &report.credssp) {
        (_, Some(info)) if info.result == "no credentials" => "none were given",
        (Some(StageStatus::Skipped), _) => "no NLA: the Client Info PDU carries the user name only",
        (Some(StageStatus::NotReached) | None, _) => "the probe stopped before CredSSP",
        _ => "CredSSP ended before the NTLM AUTHENTICATE message",
    };
    format!("not sent ({why})")
}

fn render(report: &Report, trace: bool) -> String {
    let mut out = String::new();
    let address = report.address.as_deref().unwrap_or("not connected");
    let _ = writeln!(
        out,
        "rdpscope probe {} ({})",
        esc(&report.target),
        esc(address)
    );
    for line in &report.not_honoured {
        let _ = writeln!(out, "not honoured: {}", esc(line));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<19} {:<12} {:>10}  detail",
        "stage", "status", "time"
    );
    for stage in &report.stages {
        let time = stage
            .elapsed_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms"));
        let _ = writeln!(
            out,
            "  {:<19} {:<12} {:>10}  {}",
            stage.stage.name(),
            stage.status.name(),
            time,
            esc(stage.detail.as_deref().unwrap_or(""))
        );
        let failed = stage.status == StageStatus::Failed;
        if trace || failed {
            render_steps(&mut out, &stage.steps, failed);
        }
    }
    if trace {
        render_trace(&mut out, report);
    }

    if let Some(cert) = &report.certificate {
        let _ = writeln!(out);
        let _ = writeln!(out, "certificate (policy {}):", cert.policy);
        let _ = writeln!(out, "  subject   {}", esc(&cert.subject));
        let _ = writeln!(out, "  issuer    {}", esc(&cert.issuer));
        let _ = writeln!(
            out,
            "  valid     {} .. {} ({} days left)",
            esc(&cert.not_before),
            esc(&cert.not_after),
            cert.days_remaining
        );
        let _ = writeln!(
            out,
            "  key       {}, signed {}",
            esc(&cert.key),
            esc(&cert.signature_algorithm)
        );
        if !cert.extended_key_usage.is_empty() {
            let _ = writeln!(
                out,
                "  eku       {}",
                esc(&cert.extended_key_usage.join(", "))
            );
        }
        let _ = writeln!(
            out,
            "  trusted   {}",
            if cert.trusted {
                "yes"
            } else if cert
                .findings
                .iter()
                .any(|f| f.code == crate::cert::FindingCode::TrustNotEvaluated)
            {
                "not evaluated (--pin)"
            } else {
                "no"
            }
        );
        if !cert.subject_alt_names.is_empty() {
            let _ = writeln!(
                out,
                "  names     {}",
                esc(&cert.subject_alt_names.join(", "))
            );
        }
        let _ = writeln!(out, "  sha1      {}", cert.sha1);
        let _ = writeln!(out, "  sha256    {}", cert.sha256);
        for (index, link) in cert.chain.iter().enumerate().skip(1) {
            let _ = writeln!(
                out,
                "  chain[{index}]  {} (issuer {}, sha1 {})",
                esc(&link.subject),
                esc(&link.issuer),
                esc(&link.sha1)
            );
        }
        for finding in &cert.findings {
            let _ = writeln!(
                out,
                "  {:<8}  {:<18} {}",
                finding.severity.name(),
                finding.code,
                esc(&finding.message)
            );
        }
    }

    let _ = writeln!(out);
    // The warnings are about the credentials today; the verdict repeats them.
    let _ = writeln!(out, "credentials: {}", esc(&credentials_line(report)));
    if let Some(error) = &report.error {
        let _ = writeln!(out, "kind: {}", error.kind);
    }
    if let Some(diagnosis) = &report.diagnosis {
        for code in &diagnosis.mstsc {
            let _ = writeln!(out, "mstsc would most likely show: {}", code.display);
        }
        crate::diagnosis::render_causes(&mut out, &diagnosis.causes, 3);
    }
    let _ = writeln!(out, "verdict: {}", esc(&report.verdict()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Outcome, ProbeError};
    use crate::{FailureKind, Stage};

    #[test]
    fn server_controlled_text_cannot_drive_the_terminal() {
        let report = Report {
            target: "h:3389".to_owned(),
            address: None,
            outcome: Outcome::Failed,
            failed_stage: Some(Stage::X224),
            until: None,
            total_ms: 1.0,
            stages: Vec::new(),
            error: Some(ProbeError::new(
                Stage::X224,
                FailureKind::NotRdp,
                "an SSH server answered: \"SSH-2.0-\u{1b}[2J\u{7}\"",
            )),
            negotiation: None,
            tls: None,
            certificate: None,
            credssp: None,
            credentials_sent: false,
            warnings: Vec::new(),
            not_honoured: Vec::new(),
            diagnosis: None,
            trace: Vec::new(),
        };
        let text = render_human(&report);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}[2J"), "{text}");
    }
}
