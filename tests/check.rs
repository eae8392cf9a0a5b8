//! `rdpscope check` as a monitoring system runs it: the status line, performance data that
//! an independent reader (the `perfdata` crate) parses back, and the status as exit code.

mod support;

use std::process::Output;

use rdpscope::mock::{Scenario, MOCK_PASSWORD, MOCK_USER};
use support::cli::{rdpscope, with_server};

/// The first line: status and summary, and the performance data parsed by `perfdata`.
fn status_line(output: &Output) -> (String, Vec<(String, String)>) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let first = stdout.lines().next().unwrap_or_default().to_owned();
    let (summary, perf) = first
        .split_once(" | ")
        .unwrap_or_else(|| panic!("no performance data: {stdout}"));
    let set = perfdata::PerfdataSet::try_from(perf)
        .unwrap_or_else(|e| panic!("performance data that a reader refuses ({e:?}): {perf}"));
    // The reader checks the format; the items are compared as written (its own rendering
    // differs: "30:" comes back as "30:inf").
    let items: Vec<(String, String)> = perf
        .split(' ')
        .map(|item| {
            let label = item.split('\'').nth(1).unwrap_or_default().to_owned();
            (label, item.to_owned())
        })
        .collect();
    let labels: Vec<&str> = set.data().map(|p| p.label()).collect();
    assert_eq!(
        labels,
        items.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>()
    );
    (summary.to_owned(), items)
}

fn label<'a>(items: &'a [(String, String)], name: &str) -> &'a str {
    items
        .iter()
        .find(|(label, _)| label == name)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("no {name} in {items:?}"))
}

#[tokio::test]
async fn ok_with_timings_days_and_nla() {
    let output = with_server(Scenario::SuccessHybridEx, |addr| {
        rdpscope(
            &[
                "check",
                &addr,
                "--user",
                MOCK_USER,
                "--cert-policy",
                "warn",
                "--expect-nla",
                "-w",
                "30",
                "-c",
                "60",
                "--warn-days",
                "30",
                "--crit-days",
                "7",
            ],
            Some(MOCK_PASSWORD),
        )
    })
    .await;
    let (summary, items) = status_line(&output);
    assert!(summary.starts_with("RDP OK - connected in "), "{summary}");
    assert!(summary.ends_with("; NLA required"), "{summary}");
    assert_eq!(output.status.code(), Some(0));
    assert!(label(&items, "time").contains(";30;60;0;"), "{items:?}");
    assert!(label(&items, "certificate_days").contains(";30:;7:;"));
    for stage in ["tcp", "x224", "tls", "credssp", "finalization"] {
        assert!(label(&items, stage).ends_with(";;;0;"), "{items:?}");
    }
    // The long output is the stage table.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("rdpscope probe")));
    assert!(stdout.contains("credssp"));
}

#[tokio::test]
async fn critical_when_nla_is_no_longer_required() {
    let output = with_server(Scenario::SuccessTls, |addr| {
        rdpscope(
            &["check", &addr, "--expect-nla", "--cert-policy", "warn"],
            None,
        )
    })
    .await;
    let (summary, _) = status_line(&output);
    assert_eq!(
        summary,
        "RDP CRITICAL - NLA is not required: the server accepted a client offering only TLS"
    );
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn a_failure_is_critical_naming_the_stage_and_cause() {
    let output = with_server(Scenario::ServerErrorInfo(0x7), |addr| {
        rdpscope(
            &["check", &addr, "--user", MOCK_USER, "--cert-policy", "warn"],
            Some(MOCK_PASSWORD),
        )
    })
    .await;
    let (summary, items) = status_line(&output);
    assert!(
        summary.starts_with("RDP CRITICAL - failed at secure_settings: "),
        "{summary}"
    );
    assert_eq!(output.status.code(), Some(2));
    label(&items, "secure_settings");

    // Nothing listening, and a name that does not resolve: CRITICAL, not UNKNOWN.
    let output = rdpscope(&["check", "127.0.0.1:1"], None);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = rdpscope(&["check", "no-such-host.invalid"], None);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(status_line(&output)
        .0
        .starts_with("RDP CRITICAL - failed at dns"));
}

#[tokio::test]
async fn thresholds_and_certificate_days_raise_warnings_and_criticals() {
    let warning = with_server(Scenario::SuccessTls, |addr| {
        // Every connection takes more than 0 s: "@0:1000" alerts inside 0..1000 s.
        rdpscope(
            &["check", &addr, "-w", "@0:1000", "--cert-policy", "warn"],
            None,
        )
    })
    .await;
    let (summary, items) = status_line(&warning);
    assert!(
        summary.starts_with("RDP WARNING - connection took "),
        "{summary}"
    );
    assert!(summary.ends_with("(threshold @0:1000)"));
    assert!(label(&items, "time").contains(";@0:1000;;0;"));
    assert_eq!(warning.status.code(), Some(1));
    let output = with_server(Scenario::Certificate("expired"), |addr| {
        rdpscope(
            &["check", &addr, "--crit-days", "7", "--cert-policy", "warn"],
            None,
        )
    })
    .await;
    let (summary, items) = status_line(&output);
    assert!(
        summary.starts_with("RDP CRITICAL - the certificate expired ")
            && summary.ends_with(" days ago"),
        "{summary}"
    );
    assert!(label(&items, "certificate_days").starts_with("'certificate_days'=-"));
}

#[test]
fn bad_arguments_are_unknown_on_stdout() {
    for args in [
        &["check", "127.0.0.1:1", "-w", "10:5"][..],
        &["check", "127.0.0.1:1", "-c", "abc"],
        &["check", "127.0.0.1:1", "--warn-days", "-3"],
        &["check"],
    ] {
        let output = rdpscope(args, None);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("RDP UNKNOWN - "), "{args:?}: {stdout}");
        assert_eq!(stdout.lines().count(), 1);
    }
}
