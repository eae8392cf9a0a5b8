//! The knowledge base: every table row is reachable by `explain`, every mock scenario's failure
//! maps to an mstsc code and a cause, unknown input is rejected cleanly.

use std::process::{Command, Stdio};

use rdpscope::diagnosis::{diagnose, explain, ExplainError, TABLES};
use rdpscope::mock::Scenario;
use rdpscope::report::ProbeError;

#[test]
fn every_table_row_is_reachable_by_code_and_by_name() {
    for (table, rows) in TABLES {
        for row in rows.iter() {
            // By name: the symbolic name leads to this row.
            let by_name =
                explain(row.name, None).unwrap_or_else(|e| panic!("{table} {}: {e}", row.name));
            assert!(
                by_name.matches.iter().any(|m| m.row.name == row.name),
                "{table} {}: not found by name",
                row.name
            );
            // By number (the T.125 reasons are too small to be looked up by number alone).
            if *table != "disconnect_reason" {
                let hex = format!("0x{:X}", row.code);
                let by_code = explain(&hex, None).unwrap_or_else(|e| panic!("{table} {hex}: {e}"));
                assert!(
                    by_code
                        .matches
                        .iter()
                        .any(|m| m.table == *table && m.row.code == row.code),
                    "{table} {hex}: not found by code"
                );
                let decimal = row.code.to_string();
                assert_eq!(
                    explain(&decimal, None).expect("decimal").matches,
                    by_code.matches,
                    "{table} {decimal}"
                );
            }
        }
    }
}

#[test]
fn every_failing_scenario_maps_to_an_mstsc_code_and_a_cause() {
    for scenario in Scenario::ALL {
        let expected = scenario.expected();
        let Some(kind) = expected.kind else { continue };
        let mut error = ProbeError::new(expected.stage, kind, "");
        error.code = expected.code;
        error.finding = expected.finding;
        let diagnosis =
            diagnose(&error.key()).unwrap_or_else(|| panic!("{scenario}: no diagnosis"));
        assert!(!diagnosis.mstsc.is_empty(), "{scenario}: no mstsc code");
        assert!(!diagnosis.causes.is_empty(), "{scenario}: no cause");
        for code in &diagnosis.mstsc {
            assert!(
                code.disconnect_name.is_some(),
                "{scenario}: 0x{:X} is not in the mstsc table",
                code.disconnect
            );
            assert!(
                code.extended_name.is_some(),
                "{scenario}: extended 0x{:X} is not in the table",
                code.extended
            );
        }
    }
}

#[test]
fn the_classic_0x904_0x7_ranks_certificates_firewalls_and_refusals() {
    for query in [
        explain("0x904", Some("0x7")),
        explain("0x904 0x7", None),
        explain("2308", Some("7")),
    ] {
        let explanation = query.expect("explained");
        let tables: Vec<&str> = explanation.matches.iter().map(|m| m.table.name()).collect();
        assert_eq!(tables, ["mstsc_disconnect", "extended_disconnect"]);
        let causes: Vec<&str> = explanation.causes.iter().map(|c| c.id).collect();
        assert_eq!(
            &causes[..4],
            [
                "cert_expired",
                "cert_key_unreadable",
                "middlebox_reset",
                "server_refuses_session"
            ]
        );
        assert!(explanation.causes.iter().all(|c| !c.fixes.is_empty()));
    }
}

#[test]
fn names_and_small_numbers() {
    let named = explain("ERRINFO_SERVER_DENIED_CONNECTION", None).expect("by name");
    assert_eq!(named.matches[0].table, "errinfo");
    let status = explain("STATUS_LOGON_FAILURE", None).expect("by name");
    assert_eq!(status.causes[0].id, "wrong_credentials");
    // 7 is an extended reason, an ERRINFO code and an RDP_NEG_FAILURE code at once.
    let seven = explain("7", None).expect("7");
    let tables: Vec<&str> = seven.matches.iter().map(|m| m.table.name()).collect();
    assert!(
        tables.contains(&"extended_disconnect") && tables.contains(&"errinfo"),
        "{tables:?}"
    );
}

#[test]
fn unknown_input_is_rejected_not_guessed() {
    assert!(matches!(
        explain("0xDEADBEEF", None),
        Err(ExplainError::Unknown(_))
    ));
    assert!(matches!(
        explain("banana", None),
        Err(ExplainError::Unparsable(_))
    ));
    assert!(matches!(
        explain("0x904", Some("0xDEAD")),
        Err(ExplainError::Unknown(_))
    ));
    for args in [
        vec!["explain", "0xDEADBEEF"],
        vec!["explain", "banana"],
        vec!["explain"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
    }
}

#[test]
fn explain_cli_prints_meaning_causes_confirmation_and_fixes() {
    let output = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .args(["explain", "0x904", "0x7"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "meaning:",
        "source:",
        "arises at:",
        "likely causes:",
        "confirm: rdpscope probe",
        "fix (server):",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .args(["explain", "0xC000006D", "--json"])
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["matches"][0]["row"]["name"], "STATUS_LOGON_FAILURE");
    assert!(json["causes"][0]["fixes"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
}

#[test]
fn certificate_failures_rank_causes_by_the_decisive_finding() {
    use rdpscope::{FailureKind, Stage};
    for (finding, first_cause, code) in [
        ("expired", "cert_expired", 0x1B07),
        ("eku_not_server_auth", "cert_unusable", 0x1B07),
        ("name_mismatch", "cert_identity", 0x1B07),
        ("pin_mismatch", "cert_changed", 0x907),
    ] {
        let mut error = ProbeError::new(Stage::Certificate, FailureKind::Certificate, "");
        error.finding = Some(finding.parse().expect("a finding code"));
        let diagnosis = diagnose(&error.key()).expect("diagnosis");
        assert_eq!(diagnosis.causes[0].id, first_cause, "{finding}");
        assert_eq!(diagnosis.mstsc[0].disconnect, code, "{finding}");
    }
}
