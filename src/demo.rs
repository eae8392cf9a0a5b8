//! `rdpscope demo`: every mock scenario started in-process, probed, and checked against its
//! expectation.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::mock::{MockServer, Scenario};
use crate::ProbeOptions;

/// One row of the demo table.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRow {
    /// Scenario name.
    pub scenario: &'static str,
    /// Expected `stage/kind` (or `connected`).
    pub expected: String,
    /// Observed `stage/kind` (or `connected`).
    pub observed: String,
    /// The probe's verdict line.
    pub verdict: String,
    /// Probe wall time in milliseconds.
    pub total_ms: f64,
    /// Whether the observation matches the expectation.
    pub matches: bool,
    /// What did not match, if anything.
    pub mismatch: Option<String>,
}

/// The probe options the demo uses (and [`crate::mock::Scenario::expected`] assumes): the
/// mock credentials, a 1 s stage timeout, and the fixtures' test CA trusted, as a QA lab
/// trusts its own CA.
pub fn demo_options() -> ProbeOptions {
    let trust = crate::fixtures::embedded_test_ca()
        .map(|ca| {
            crate::cert::TrustStore::with_extra(&[rustls::pki_types::CertificateDer::from(ca)])
        })
        .ok();
    ProbeOptions {
        credentials: Some(crate::mock::credentials()),
        trust,
        stage_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        ..ProbeOptions::default()
    }
}

/// Starts every scenario on loopback, probes each concurrently and returns the rows in
/// catalogue order.
pub async fn run_demo() -> std::io::Result<Vec<DemoRow>> {
    let options = demo_options();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, &scenario) in Scenario::ALL.iter().enumerate() {
        let server = MockServer::builder().scenario(scenario).start().await?;
        let options = options.clone();
        tasks.spawn(async move {
            let target = crate::target::Target::from(server.addr());
            let report = crate::probe(&target, &options).await;
            server.shutdown().await;
            (index, scenario, report)
        });
    }
    let mut rows: Vec<(usize, DemoRow)> = Vec::with_capacity(Scenario::ALL.len());
    while let Some(joined) = tasks.join_next().await {
        let (index, scenario, report) = joined.map_err(std::io::Error::other)?;
        let expected = scenario.expected();
        let check = expected.check(&report);
        let observed = crate::expect::observed(&report);
        rows.push((
            index,
            DemoRow {
                scenario: scenario.name(),
                expected: expected.summary(),
                observed,
                verdict: report.verdict(),
                total_ms: report.total_ms,
                matches: check.is_ok(),
                mismatch: check.err(),
            },
        ));
    }
    rows.sort_by_key(|(index, _)| *index);
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// Renders the demo table.
pub fn render_demo(rows: &[DemoRow]) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8);
    let column = |len: fn(&DemoRow) -> usize| rows.iter().map(len).max().unwrap_or(8);
    let expected = column(|r| r.expected.len());
    let observed = column(|r| r.observed.len());
    let _ = writeln!(
        out,
        "{:<width$} {:<expected$} {:<observed$} {:>9}  match",
        "scenario", "expected", "observed", "time"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<width$} {:<expected$} {:<observed$} {:>6.1} ms  {}",
            row.scenario,
            row.expected,
            row.observed,
            row.total_ms,
            if row.matches { "yes" } else { "NO" }
        );
        if let Some(mismatch) = &row.mismatch {
            let _ = writeln!(out, "    mismatch: {mismatch} ({})", row.verdict);
        }
    }
    let matched = rows.iter().filter(|r| r.matches).count();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{matched} of {} scenarios behave as expected",
        rows.len()
    );
    out
}
