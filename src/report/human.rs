//! The human-readable report.

use std::fmt::Write as _;

use super::{Report, Severity};

/// Renders a report as the multi-line text `rdpscope probe` prints.
///
/// Control characters that a server put into a banner or a certificate name are escaped, so
/// a hostile server cannot drive the terminal.
pub fn render_human(report: &Report) -> String {
    let mut out = String::new();
    for line in render(report).lines() {
        for c in line.chars() {
            if c.is_control() {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The likely causes, most likely first, with how to confirm and fix each (at most `limit`).
fn render_causes(out: &mut String, causes: &[&crate::diagnosis::Cause], limit: usize) {
    if causes.is_empty() {
        return;
    }
    let _ = writeln!(out, "likely causes:");
    for (rank, cause) in causes.iter().take(limit).enumerate() {
        let _ = writeln!(out, "  {}. {}", rank + 1, cause.title);
        let _ = writeln!(out, "     confirm: {}", cause.confirm);
        let _ = writeln!(out, "     it shows: {}", cause.shows);
        for fix in cause.fixes {
            let side = serde_json::to_value(fix.side)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(out, "     fix ({side}): {}", fix.action);
        }
    }
    if causes.len() > limit {
        let _ = writeln!(
            out,
            "  (+{} less likely; --json lists all)",
            causes.len() - limit
        );
    }
}

/// Renders `rdpscope explain`.
pub fn render_explanation(explanation: &crate::diagnosis::Explanation) -> String {
    let mut out = String::new();
    for m in &explanation.matches {
        let _ = writeln!(
            out,
            "0x{:X} ({}) {}: {}",
            m.row.code, m.row.code, m.row.name, m.table_title
        );
        let _ = writeln!(out, "  meaning: {}", m.row.meaning);
        if m.row.uncertain {
            let _ = writeln!(
                out,
                "  (uncertain: this meaning could not be confirmed against a public source)"
            );
        }
        let _ = writeln!(out, "  source:  {}", m.row.source);
    }
    if !explanation.stages.is_empty() {
        let stages: Vec<&str> = explanation.stages.iter().map(|s| s.name()).collect();
        let _ = writeln!(out, "arises at: {}", stages.join(", "));
    }
    render_causes(&mut out, &explanation.causes, usize::MAX);
    out
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    let address = report.address.as_deref().unwrap_or("not connected");
    let _ = writeln!(out, "rdpscope probe {} ({address})", report.target);
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
            stage.detail.as_deref().unwrap_or("")
        );
    }

    if let Some(cert) = &report.certificate {
        let _ = writeln!(out);
        let _ = writeln!(out, "certificate (policy {}):", cert.policy);
        let _ = writeln!(out, "  subject   {}", cert.subject);
        let _ = writeln!(out, "  issuer    {}", cert.issuer);
        let _ = writeln!(
            out,
            "  valid     {} .. {} ({} days left)",
            cert.not_before, cert.not_after, cert.days_remaining
        );
        let _ = writeln!(
            out,
            "  key       {}, signed {}",
            cert.key, cert.signature_algorithm
        );
        if !cert.extended_key_usage.is_empty() {
            let _ = writeln!(out, "  eku       {}", cert.extended_key_usage.join(", "));
        }
        let _ = writeln!(
            out,
            "  trusted   {}",
            if cert.trusted { "yes" } else { "no" }
        );
        if !cert.subject_alt_names.is_empty() {
            let _ = writeln!(out, "  names     {}", cert.subject_alt_names.join(", "));
        }
        let _ = writeln!(out, "  sha1      {}", cert.sha1);
        let _ = writeln!(out, "  sha256    {}", cert.sha256);
        for (index, link) in cert.chain.iter().enumerate().skip(1) {
            let _ = writeln!(
                out,
                "  chain[{index}]  {} (issuer {}, sha1 {})",
                link.subject, link.issuer, link.sha1
            );
        }
        for finding in &cert.findings {
            let severity = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = writeln!(
                out,
                "  {severity:<8}  {:<18} {}",
                finding.code, finding.message
            );
        }
    }

    let _ = writeln!(out);
    if let Some(error) = &report.error {
        let _ = writeln!(out, "kind: {}", error.kind);
    }
    if let Some(diagnosis) = &report.diagnosis {
        for code in &diagnosis.mstsc {
            let _ = writeln!(out, "mstsc would most likely show: {}", code.display);
        }
        render_causes(&mut out, &diagnosis.causes, 3);
    }
    let _ = writeln!(out, "verdict: {}", report.verdict());
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
            diagnosis: None,
        };
        let text = render_human(&report);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}[2J"), "{text}");
    }
}
