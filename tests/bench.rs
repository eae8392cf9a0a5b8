//! `rdpscope bench` works end to end (functional checks only: speed is measured by running
//! the benchmark, never asserted in tests).

use std::process::Command;

/// `rdpscope bench ARGS --json`, which must succeed, as JSON.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

#[test]
fn bench_against_the_built_in_servers_reports_every_figure() {
    let report = bench_json(&[
        "--connections",
        "20",
        "--concurrency",
        "4",
        "--baseline",
        "tls",
    ]);
    let runs = report["runs"].as_array().expect("runs");
    let labels: Vec<&str> = runs.iter().filter_map(|r| r["label"].as_str()).collect();
    assert_eq!(labels, ["success_tls", "success_hybrid_ex"]);
    for run in runs {
        assert_eq!(run["connections"], 20);
        assert_eq!(run["succeeded"], 20, "{run}");
        assert!(run["errors"].as_array().is_some_and(Vec::is_empty));
        assert!(run["handshakes_per_second"]
            .as_f64()
            .is_some_and(|r| r > 0.0));
        assert_eq!(run["end_to_end"]["count"], 20);
        let stages: Vec<&str> = run["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .filter_map(|s| s[0].as_str())
            .collect();
        assert!(
            stages.contains(&"tls") && stages.contains(&"finalization"),
            "{stages:?}"
        );
    }
    assert_eq!(report["baseline"]["succeeded"], 20);
    assert_eq!(report["ratios"].as_array().map(Vec::len), Some(2));
    // With two CPUs or more the in-process servers get one and the load the others.
    let placement = &report["placement"];
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if cpus >= 2 {
        let load = placement["load"].as_array().expect("placed");
        assert!(
            !load.is_empty() && !load.contains(&placement["servers"]),
            "{placement}"
        );
    }
}

/// `--baseline wire`: each scenario's wire floor replays the exchanges of its connections
/// (one before TLS: the X.224 Connection Request and its 19-byte Confirm; more inside TLS
/// with CredSSP than without), every floor connection succeeds, and every run has a ratio
/// to the TLS handshake and to its floor, every floor one to the TLS handshake.
#[test]
fn bench_with_wire_floors() {
    let report = bench_json(&[
        "--connections",
        "12",
        "--concurrency",
        "3",
        "--baseline",
        "wire",
        "--no-affinity",
    ]);
    let floors = report["floors"].as_array().expect("floors");
    let labels: Vec<&str> = floors
        .iter()
        .filter_map(|f| f["result"]["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        ["success_tls wire floor", "success_hybrid_ex wire floor"]
    );
    let inside: Vec<usize> = floors
        .iter()
        .map(|floor| {
            assert_eq!(floor["result"]["succeeded"], 12, "{floor}");
            assert_eq!(floor["wire"]["tls"], true);
            let plain = floor["wire"]["plain"].as_array().expect("plain");
            assert_eq!(plain.len(), 1, "{floor}");
            assert_eq!(plain[0]["received"], 19);
            floor["wire"]["encrypted"].as_array().map_or(0, Vec::len)
        })
        .collect();
    // MCS connect, attach user, client info, activation at least; CredSSP adds its own.
    assert!(inside[0] >= 4 && inside[1] > inside[0], "{inside:?}");
    let spreads: Vec<(String, String)> = report["spreads"]
        .as_array()
        .expect("spreads")
        .iter()
        .map(|s| {
            assert!(s["median"].as_f64().is_some_and(|m| m > 0.0), "{s}");
            assert!(s["mean"].as_f64().is_some_and(|m| m > 0.0), "{s}");
            (
                s["label"].as_str().unwrap_or_default().to_owned(),
                s["against"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("success_tls", "tls"),
        ("success_tls", "wire"),
        ("success_hybrid_ex", "tls"),
        ("success_hybrid_ex", "wire"),
        ("success_tls wire floor", "tls"),
        ("success_hybrid_ex wire floor", "tls"),
    ] {
        assert!(
            spreads.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {spreads:?}"
        );
    }
    assert_eq!(report["ratios"].as_array().map(Vec::len), Some(2));
    assert!(
        report["placement"].is_null(),
        "--no-affinity places nothing"
    );
}

#[test]
fn bench_errors_are_grouped_by_stage_and_kind() {
    let output = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .args([
            "bench",
            "--scenario",
            "wrong_password",
            "--connections",
            "6",
            "--concurrency",
            "3",
            "--threads",
            "2",
            "--json",
        ])
        .output()
        .expect("runs");
    // A run in which no connection succeeded measured nothing: the benchmark fails, with
    // the exit code of the stage its connections failed at (credssp).
    assert_eq!(output.status.code(), Some(15));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no connection"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let run = &report["runs"][0];
    assert_eq!(run["succeeded"], 0);
    assert_eq!(run["threads"], 2);
    assert_eq!(run["errors"][0]["stage"], "credssp");
    assert_eq!(run["errors"][0]["kind"], "logon_failure");
    assert_eq!(run["errors"][0]["count"], 6);
}

#[test]
fn bench_until_a_stage_and_bad_input() {
    let report = bench_json(&[
        "--scenario",
        "success_tls",
        "--connections",
        "5",
        "--until",
        "tls",
    ]);
    assert_eq!(report["runs"][0]["succeeded"], 5);
    for args in [
        vec!["bench", "--connections", "0"],
        vec!["bench", "--threads", "0"],
        vec!["bench", "--scenario", "nope"],
        vec!["bench", "--baseline", "quic"],
        vec!["bench", "--duration", "forever"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}
