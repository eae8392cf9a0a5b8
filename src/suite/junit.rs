//! A suite's results as JUnit XML (written by `quick-junit`, the serializer cargo-nextest
//! uses), as Jenkins, GitLab and GitHub test reporters read it: one `testsuite`, one
//! `testcase` per case with its time; `failure` when the expectation was not met (expected
//! vs observed in the message), `error` when the case could not run; the stage timings, the
//! negotiated protocol, TLS version and certificate thumbprints as properties; the human
//! report as `system-out`.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::{Status, SuiteResult};
use crate::report::StageStatus;

/// The JUnit XML of a run.
pub fn junit(result: &SuiteResult) -> Result<String, String> {
    let mut suite = TestSuite::new(result.suite.as_str());
    suite.set_time(Duration::from_secs_f64(result.total_ms / 1e3));
    for case in &result.cases {
        let mut status = match case.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Failed => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_type("expectation not met").set_message(format!(
                    "expected {}, observed {}: {}",
                    case.expected,
                    case.observed,
                    case.mismatches.join("; ")
                ));
                status
            }
            Status::Error => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_type("could not run")
                    .set_message(case.mismatches.join("; "));
                status
            }
        };
        if let (Some(report), TestCaseStatus::NonSuccess { .. }) = (&case.report, &status) {
            status.set_description(report.verdict());
        }
        let mut test = TestCase::new(case.name.as_str(), status);
        test.set_classname(format!("rdpscope.{}", result.suite))
            .set_time(Duration::from_secs_f64(case.time_ms / 1e3));
        test.add_property(Property::new("target", case.target.as_str()));
        test.add_property(Property::new("expected", case.expected.as_str()));
        if let Some(report) = &case.report {
            test.add_property(Property::new("observed", case.observed.as_str()));
            test.add_properties(properties(report));
            test.set_system_out(crate::report::render_human(report));
        }
        suite.add_test_case(test);
    }
    let mut junit = Junit::new("rdpscope");
    junit.add_test_suite(suite);
    junit
        .to_string()
        .map_err(|e| format!("cannot write the JUnit XML: {e}"))
}

/// A report's facts as properties: where it connected, each stage's time, the protocol,
/// TLS version and the certificate's thumbprints.
fn properties(report: &crate::Report) -> Vec<Property> {
    let mut properties = Vec::new();
    if let Some(address) = &report.address {
        properties.push(Property::new("address", address.as_str()));
    }
    properties.push(Property::new("total_ms", format!("{:.1}", report.total_ms)));
    for stage in &report.stages {
        if let (Some(ms), StageStatus::Ok | StageStatus::Failed) = (stage.elapsed_ms, stage.status)
        {
            properties.push(Property::new(
                format!("stage.{}_ms", stage.stage),
                format!("{ms:.1}"),
            ));
        }
    }
    if let Some(selected) = report
        .negotiation
        .as_ref()
        .and_then(|n| n.selected.as_deref())
    {
        properties.push(Property::new("protocol", selected));
    }
    if let Some(tls) = &report.tls {
        properties.push(Property::new("tls.version", tls.version.as_str()));
        properties.push(Property::new("tls.cipher_suite", tls.cipher_suite.as_str()));
    }
    if let Some(certificate) = &report.certificate {
        properties.push(Property::new(
            "certificate.sha256",
            certificate.sha256.as_str(),
        ));
        properties.push(Property::new("certificate.sha1", certificate.sha1.as_str()));
        properties.push(Property::new(
            "certificate.not_after",
            certificate.not_after.as_str(),
        ));
    }
    properties.push(Property::new(
        "credentials_sent",
        report.credentials_sent.to_string(),
    ));
    properties
}
