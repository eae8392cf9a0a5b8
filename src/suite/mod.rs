//! `rdpscope suite FILE`: a QA team's regression run. A TOML file lists cases (a target,
//! the probe's options, an expectation; `[defaults]` for every case); each case is one
//! probe, compared with its [`Expectation`]; the results go out as a table, JSON or a JUnit
//! file (`junit`).
//!
//! A case's target is an address, a `.rdp` file, or a built-in scenario, which then runs
//! in-process on a loopback port of its own. The file is checked whole before anything is
//! sent ([`read`]).

mod file;
mod junit;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

pub use file::parse;
pub use junit::junit;

use crate::expect::{observed, Expectation};
use crate::mock::{MockServer, Scenario};
use crate::target::Target;
use crate::{FailureKind, ProbeOptions, Report};

/// A checked suite.
#[derive(Debug)]
#[non_exhaustive]
pub struct Suite {
    /// The suite's `name`, or the file's stem.
    pub name: String,
    /// The cases in file order.
    pub cases: Vec<Case>,
}

/// One case: where, with what, and what must come of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Case {
    /// Its name (unique in the suite), escaped for a terminal.
    pub name: String,
    /// The line of its `[[case]]` in the file.
    pub line: usize,
    /// Where the probe goes.
    pub target: CaseTarget,
    /// The target as tables show it.
    pub label: String,
    /// The probe's options.
    pub options: ProbeOptions,
    /// What the report must show.
    pub expectation: Expectation,
    /// Settings of its `.rdp` file that the probe cannot honour.
    pub not_honoured: Vec<String>,
}

/// Where a case's probe goes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CaseTarget {
    /// A server (from `target` or a `.rdp` file).
    Address(Target),
    /// A built-in scenario, served in-process on loopback for this case alone.
    Scenario(Scenario),
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// The report met the expectation.
    Passed,
    /// The report did not meet the expectation (JUnit `failure`).
    Failed,
    /// The case could not run: its mock did not start, or the probe failed inside
    /// rdpscope (JUnit `error`).
    Error,
}

impl Status {
    /// The name tables show.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Passed => "pass",
            Status::Failed => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// The target as tables show it.
    pub target: String,
    /// The expectation, in short (`credssp/logon_failure`, `connected`).
    pub expected: String,
    /// What the probe showed, in short (empty when the case could not run).
    pub observed: String,
    /// How the case ended.
    pub status: Status,
    /// What did not meet the expectation, one line each; or why the case could not run.
    pub mismatches: Vec<String>,
    /// Wall time of the case in milliseconds (the mock's start included).
    pub time_ms: f64,
    /// The full expectation.
    pub expectation: Expectation,
    /// The probe's report (none when the case could not run).
    pub report: Option<Report>,
}

/// Reads and checks the suite file at `path` (environment variables from the process).
pub fn read(path: &Path) -> Result<Suite, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&name, &text, dir, &|variable| std::env::var(variable).ok())
}

impl Suite {
    /// Keeps the cases whose name contains one of `patterns` (all of them when there is
    /// none); an error when none is left.
    pub fn filter(&mut self, patterns: &[String]) -> Result<(), String> {
        if patterns.is_empty() {
            return Ok(());
        }
        self.cases
            .retain(|case| patterns.iter().any(|p| case.name.contains(p.as_str())));
        if self.cases.is_empty() {
            return Err(format!("no case name contains {}", patterns.join(" or ")));
        }
        Ok(())
    }

    /// The cases as `--list` shows them: name, target, expectation, line.
    pub fn render_list(&self) -> String {
        let mut out = String::new();
        let width = self.cases.iter().map(|c| c.name.len()).max().unwrap_or(4);
        for case in &self.cases {
            let _ = writeln!(
                out,
                "{:<width$}  {:<40}  expect {}  (line {})",
                case.name,
                case.label,
                case.expectation.summary(case.options.until),
                case.line
            );
        }
        out
    }
}

/// Runs one case: starts its mock if it has one, probes, compares.
pub async fn run_case(case: &Case) -> CaseResult {
    let started = Instant::now();
    let probed = match &case.target {
        CaseTarget::Address(target) => Ok(crate::probe(target, &case.options).await),
        CaseTarget::Scenario(scenario) => {
            match MockServer::builder().scenario(*scenario).start().await {
                Ok(server) => {
                    let target = Target::from(server.addr());
                    let report = crate::probe(&target, &case.options).await;
                    server.shutdown().await;
                    Ok(report)
                }
                Err(e) => Err(format!("the mock server did not start: {e}")),
            }
        }
    };
    let time_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut report = match probed {
        Ok(report) => report,
        Err(why) => return CaseResult::not_run(case, why, time_ms),
    };
    report.not_honoured.clone_from(&case.not_honoured);
    let (status, mismatches) = match &report.error {
        Some(error) if error.kind == FailureKind::Internal => (
            Status::Error,
            vec![format!("rdpscope failed: {}", error.message)],
        ),
        _ => {
            let mismatches = case.expectation.mismatches(&report);
            match mismatches.is_empty() {
                true => (Status::Passed, mismatches),
                false => (Status::Failed, mismatches),
            }
        }
    };
    CaseResult {
        observed: observed(&report),
        status,
        mismatches,
        report: Some(report),
        ..CaseResult::not_run(case, String::new(), time_ms)
    }
}

impl CaseResult {
    /// The result of a case that could not run (`status` error), saying why.
    fn not_run(case: &Case, why: String, time_ms: f64) -> Self {
        CaseResult {
            name: case.name.clone(),
            target: case.label.clone(),
            expected: case.expectation.summary(case.options.until),
            observed: String::new(),
            status: Status::Error,
            mismatches: vec![why],
            time_ms,
            expectation: case.expectation.clone(),
            report: None,
        }
    }
}

/// The whole run's results, in the suite's order.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SuiteResult {
    /// The suite's name.
    pub suite: String,
    /// Cases that met their expectation.
    pub passed: usize,
    /// Cases that did not.
    pub failed: usize,
    /// Cases that could not run.
    pub errors: usize,
    /// Wall time of the whole run in milliseconds.
    pub total_ms: f64,
    /// Every case's result.
    pub cases: Vec<CaseResult>,
}

/// Runs every case of `suite`, at most `concurrency` at once, handing each result to
/// `progress` as it finishes; the results come back in the suite's order. A case that
/// panicked (a bug) is reported as one that could not run; the others go on.
pub async fn run(
    suite: &Suite,
    concurrency: usize,
    mut progress: impl FnMut(&CaseResult),
) -> SuiteResult {
    let started = Instant::now();
    let work = suite
        .cases
        .iter()
        .cloned()
        .map(|case| async move { run_case(&case).await });
    let mut results = Vec::with_capacity(suite.cases.len());
    let _ = crate::tasks::bounded(work, concurrency, |index, done| {
        let result = done.unwrap_or_else(|e| {
            let why = format!("internal error (a bug, please report it): {e}");
            // The case's own time is not known when its task panicked.
            CaseResult::not_run(&suite.cases[index], why, 0.0)
        });
        progress(&result);
        results.push((index, result));
        Ok::<(), ()>(())
    })
    .await;
    results.sort_by_key(|(index, _)| *index);
    let cases: Vec<CaseResult> = results.into_iter().map(|(_, r)| r).collect();
    let count = |status| cases.iter().filter(|c| c.status == status).count();
    SuiteResult {
        suite: suite.name.clone(),
        passed: count(Status::Passed),
        failed: count(Status::Failed),
        errors: count(Status::Error),
        total_ms: started.elapsed().as_secs_f64() * 1e3,
        cases,
    }
}

impl SuiteResult {
    /// Whether every case met its expectation.
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }

    /// The summary table: one row per case, what did not match under it, the totals.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let column = |len: fn(&CaseResult) -> usize, title: &str| {
            self.cases
                .iter()
                .map(len)
                .max()
                .unwrap_or(0)
                .max(title.len())
        };
        let width = column(|c| c.name.chars().count(), "case");
        let expected = column(|c| c.expected.chars().count(), "expected");
        let observed = column(|c| c.observed.chars().count(), "observed");
        let _ = writeln!(
            out,
            "{:<width$}  {:<expected$}  {:<observed$}  {:>9}  result",
            "case", "expected", "observed", "time"
        );
        for case in &self.cases {
            let _ = writeln!(
                out,
                "{:<width$}  {:<expected$}  {:<observed$}  {:>6.1} ms  {}",
                case.name,
                case.expected,
                case.observed,
                case.time_ms,
                case.status.name()
            );
            for mismatch in &case.mismatches {
                let _ = writeln!(out, "    {mismatch}");
            }
            if let Some(report) = case
                .report
                .as_ref()
                .filter(|_| case.status != Status::Passed)
            {
                let _ = writeln!(out, "    verdict: {}", report.verdict());
            }
        }
        let _ = writeln!(
            out,
            "\n{}: {} of {} cases met their expectation ({} failed, {} could not run) in {:.2} s",
            self.suite,
            self.passed,
            self.cases.len(),
            self.failed,
            self.errors,
            self.total_ms / 1e3
        );
        out
    }
}
