//! The command line: exit codes, `--json` shape and password handling.

use std::process::{Command, Output, Stdio};

mod support;

use support::cli::{rdpscope, with_server};

use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD, MOCK_USER};

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[tokio::test]
async fn json_report_has_the_documented_fields() {
    let output = with_server(Scenario::SuccessHybridEx, |addr| {
        rdpscope(
            &["probe", &addr, "--json", "--user", MOCK_USER],
            Some(MOCK_PASSWORD),
        )
    })
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    for field in [
        "target",
        "address",
        "outcome",
        "failed_stage",
        "stages",
        "error",
        "negotiation",
        "tls",
        "certificate",
        "credssp",
        "total_ms",
    ] {
        assert!(report.get(field).is_some(), "missing {field}: {report}");
    }
    assert_eq!(report["outcome"], "connected");
    assert!(report["failed_stage"].is_null());
    let stages = report["stages"].as_array().expect("stages array");
    let names: Vec<&str> = stages
        .iter()
        .map(|s| s["stage"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "dns",
            "tcp",
            "x224",
            "tls",
            "certificate",
            "credssp",
            "basic_settings",
            "channel_connection",
            "secure_settings",
            "licensing",
            "capabilities",
            "finalization",
            "connected"
        ]
    );
    for stage in stages {
        for field in ["stage", "status", "elapsed_ms", "detail"] {
            assert!(stage.get(field).is_some(), "stage without {field}: {stage}");
        }
    }
    assert_eq!(report["negotiation"]["selected"], "hybrid_ex");
    assert_eq!(
        report["certificate"]["sha1"].as_str().map(str::len),
        Some(40)
    );
    assert_eq!(report["credssp"]["result"], "success");
    // The password never appears in the output.
    assert!(!String::from_utf8_lossy(&output.stdout).contains(MOCK_PASSWORD));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(MOCK_PASSWORD));
}

#[tokio::test]
async fn failure_exit_codes_follow_the_stage() {
    let cases = [
        (
            Scenario::SuccessHybridEx,
            "wrong-password",
            15,
            "credssp",
            "logon_failure",
        ),
        (
            Scenario::NegotiationFailure(5),
            MOCK_PASSWORD,
            12,
            "x224",
            "negotiation_failure",
        ),
        (
            Scenario::CloseDuring(rdpscope::Stage::BasicSettings),
            MOCK_PASSWORD,
            16,
            "basic_settings",
            "closed_by_peer",
        ),
        (
            Scenario::ServerErrorInfo(7),
            MOCK_PASSWORD,
            18,
            "secure_settings",
            "server_error_info",
        ),
    ];
    for (scenario, password, code, stage, kind) in cases {
        let output = with_server(scenario, |addr| {
            rdpscope(
                &["probe", &addr, "--json", "--user", MOCK_USER],
                Some(password),
            )
        })
        .await;
        assert_eq!(output.status.code(), Some(code), "{}", scenario.name());
        let report = json(&output);
        assert_eq!(report["outcome"], "failed");
        assert_eq!(report["failed_stage"], stage, "{}", scenario.name());
        assert_eq!(report["error"]["stage"], stage);
        assert_eq!(report["error"]["kind"], kind, "{}", scenario.name());
        assert!(report["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn codes_are_in_the_json_error() {
    let output = with_server(Scenario::SuccessHybridEx, |addr| {
        rdpscope(
            &["probe", &addr, "--json", "--user", MOCK_USER],
            Some("wrong-password"),
        )
    })
    .await;
    let report = json(&output);
    assert_eq!(report["error"]["ntstatus"], 0xC000_006Du32);
    assert_eq!(report["error"]["ntstatus_name"], "STATUS_LOGON_FAILURE");
    let output = with_server(Scenario::ServerErrorInfo(7), |addr| {
        rdpscope(&["probe", &addr, "--json"], None)
    })
    .await;
    let report = json(&output);
    assert_eq!(report["error"]["errinfo"], 7);
    assert_eq!(
        report["error"]["errinfo_name"],
        "ERRINFO_SERVER_DENIED_CONNECTION"
    );
}

#[tokio::test]
async fn password_from_stdin() {
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybrid)
        .start()
        .await
        .expect("mock");
    let addr = server.addr().to_string();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
            .args(["probe", &addr, "--user", MOCK_USER, "--password-stdin"])
            .env_remove("RDPSCOPE_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{MOCK_PASSWORD}").expect("write");
        drop(stdin);
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join");
    server.shutdown().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("verdict: connected"), "{stdout}");
    assert!(!stdout.contains(MOCK_PASSWORD));
}

#[test]
fn empty_password_variable_is_bad_input() {
    let output = rdpscope(&["probe", "127.0.0.1", "--user", "alice"], Some(""));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("RDPSCOPE_PASSWORD is empty"));
}

#[test]
fn refused_port_exits_11() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let output = rdpscope(&["probe", &addr], None);
    assert_eq!(output.status.code(), Some(11));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("verdict: failed at tcp: connection refused"),
        "{stdout}"
    );
}

#[test]
fn bad_input_exits_2() {
    for args in [
        vec!["probe", "host:notaport"],
        vec!["probe", "127.0.0.1", "--security", "tls,bogus"],
        vec!["probe", "127.0.0.1", "--timeout", "forever"],
        vec!["probe", "127.0.0.1", "--until", "nowhere"],
        vec!["probe", "127.0.0.1", "--cert-policy", "lenient"],
        vec!["probe", "127.0.0.1", "--ca-file", "/nonexistent/ca.pem"],
        vec!["probe", "127.0.0.1", "--password", "secret"],
        vec!["serve", "--scenario", "no_such_scenario"],
        vec!["probe", "127.0.0.1", "--pin", "sha256:abc"],
        vec!["probe", "127.0.0.1", "--pin", "md5:00"],
        vec!["probe", "127.0.0.1", "--expiry-warning-days", "soon"],
        vec!["probe", "127.0.0.1", "--password-stdin"],
        vec!["probe", "127.0.0.1", "--user", "alice", "--password-stdin"],
        vec!["frobnicate"],
        vec!["probe", "127.0.0.1", "--expiry-warning-days=-5"],
        vec!["probe", "127.0.0.1", "--expiry-warning-days", "-5"],
        vec!["probe", "127.0.0.1", "--expiry-warning-days", "99999999"],
        vec!["probe"],
        vec!["explain"],
    ] {
        let output = rdpscope(&args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        // One line naming what is wrong, not a usage screen.
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("rdpscope: "), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_ca_file_with_a_broken_certificate_is_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    // A well-formed PEM block whose DER is not a certificate.
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let path = ca.to_string_lossy().into_owned();
    let output = rdpscope(&["probe", "127.0.0.1:1", "--ca-file", &path], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--ca-file") && stderr.contains("X.509"),
        "{stderr}"
    );
}

/// Runs `args` with stdout a pipe whose reading end is closed before rdpscope writes.
fn with_closed_stdout(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .args(args)
        .env_remove("RDPSCOPE_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rdpscope runs");
    drop(child.stdout.take());
    child.wait_with_output().expect("rdpscope ends")
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_commands_own_exit_code() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = listener.local_addr().expect("addr").to_string();
    drop(listener);
    for (args, code) in [
        (vec!["probe", refused.as_str()], 11),
        (vec!["probe", refused.as_str(), "--json"], 11),
        (vec!["explain", "0x904", "0x7"], 0),
        (vec!["explain", "0x904", "--json"], 0),
        (vec!["scenarios"], 0),
        (vec!["scenarios", "--json"], 0),
        (vec!["--help"], 0),
    ] {
        let output = with_closed_stdout(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_color_turns_the_log_colours_off_on_a_terminal() {
    // `script` gives rdpscope a terminal (a pty) for stdin, stdout and stderr.
    if !support::tools::require_tool("script", "apt-get install bsdutils", "no_color") {
        return;
    }
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybridEx)
        .start()
        .await
        .expect("mock starts");
    let command = format!(
        "{} probe {} --user {MOCK_USER} -v",
        env!("CARGO_BIN_EXE_rdpscope"),
        server.addr()
    );
    let run = move |no_color: Option<&'static str>| {
        let command = command.clone();
        tokio::task::spawn_blocking(move || {
            let mut script = Command::new("script");
            script
                .args(["-qec", &command, "/dev/null"])
                .env("RDPSCOPE_PASSWORD", MOCK_PASSWORD)
                .env_remove("RDPSCOPE_LOG")
                .env_remove("NO_COLOR")
                .stdin(Stdio::null());
            if let Some(value) = no_color {
                script.env("NO_COLOR", value);
            }
            script.output().expect("script runs")
        })
    };
    let coloured = run(None).await.expect("join");
    let plain = run(Some("1")).await.expect("join");
    server.shutdown().await;
    let coloured = String::from_utf8_lossy(&coloured.stdout).into_owned();
    let plain = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(coloured.contains("TSRequest"), "no debug log: {coloured}");
    assert!(
        coloured.contains('\u{1b}'),
        "no colour on a terminal: {coloured}"
    );
    assert!(plain.contains("TSRequest"), "no debug log: {plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR: {plain}"
    );
}

#[test]
fn until_reached_exits_0_with_outcome_reached() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let output = runtime.block_on(with_server(Scenario::SuccessTls, |addr| {
        rdpscope(&["probe", &addr, "--json", "--until", "tls"], None)
    }));
    assert_eq!(output.status.code(), Some(0));
    let report = json(&output);
    assert_eq!(report["outcome"], "reached");
    assert_eq!(report["until"], "tls");
}

#[test]
fn scenarios_lists_the_catalogue() {
    let output = rdpscope(&["scenarios", "--json"], None);
    assert_eq!(output.status.code(), Some(0));
    let list = json(&output);
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names.len(), Scenario::ALL.len());
    assert!(names.contains(&"server_error_info_denied_connection"));
}

#[test]
fn unresolvable_host_fails_at_dns_with_exit_10() {
    // `.invalid` never resolves (RFC 6761); the timeout bounds a resolver that never answers.
    let output = rdpscope(
        &[
            "probe",
            "rdpscope-test.invalid",
            "--json",
            "--timeout",
            "3s",
        ],
        None,
    );
    assert_eq!(
        output.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    assert_eq!(report["failed_stage"], "dns");
    assert!(matches!(
        report["error"]["kind"].as_str(),
        Some("dns_failure" | "timeout")
    ));
}

#[tokio::test]
async fn ipv6_loopback_target() {
    let Ok(server) = MockServer::builder()
        .listen("[::1]:0".parse().expect("addr"))
        .scenario(Scenario::SuccessTls)
        .start()
        .await
    else {
        eprintln!("SKIP ipv6_loopback_target: no IPv6 loopback on this machine");
        return;
    };
    let target = format!("[::1]:{}", server.addr().port());
    let output = tokio::task::spawn_blocking(move || rdpscope(&["probe", &target, "--json"], None))
        .await
        .expect("join");
    server.shutdown().await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    assert_eq!(
        report["address"].as_str().map(|a| a.starts_with("[::1]:")),
        Some(true)
    );
    assert!(report["target"]
        .as_str()
        .is_some_and(|t| t.starts_with("[::1]:")));
}

#[test]
fn fixtures_generate_writes_the_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 path");
    let output = rdpscope(&["fixtures", "generate", path], None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for fixture in rdpscope::fixtures::FIXTURES {
        assert!(
            dir.path().join(fixture.cert_file()).is_file(),
            "{}",
            fixture.name
        );
        assert!(
            dir.path().join(fixture.key_file()).is_file(),
            "{}",
            fixture.name
        );
    }
    assert!(dir.path().join("manifest.toml").is_file());
}

#[tokio::test]
async fn pin_mismatch_exits_14_with_certificate_changed() {
    let output = with_server(Scenario::SuccessTls, |addr| {
        let pin = format!("sha256:{}", "AB".repeat(32));
        rdpscope(&["probe", &addr, "--json", "--pin", &pin], None)
    })
    .await;
    assert_eq!(
        output.status.code(),
        Some(14),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    assert_eq!(report["certificate"]["pin_matched"], false);
    assert!(report["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("certificate changed")));
}

#[test]
fn completions_and_the_manual_page_come_from_the_command_line_definition() {
    for (shell, marker) in [
        ("bash", "_rdpscope()"),
        ("zsh", "#compdef rdpscope"),
        ("fish", "complete -c rdpscope"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = rdpscope(&["completions", shell], None);
        let script = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(script.contains(marker), "{shell}: {script}");
        // Every subcommand and a nested option are offered.
        for word in ["probe", "explain", "scenarios", "cert-policy"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let output = rdpscope(&["man"], None);
    let page = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        page.contains(".TH rdpscope 1") && page.contains("probe"),
        "{page}"
    );
    let output = rdpscope(&["completions", "tcsh"], None);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn scan_streams_json_lines_and_csv_and_refuses_a_bad_targets_file_before_sending() {
    let lines = with_server(Scenario::SuccessTls, |addr| {
        let json = rdpscope(&["scan", &addr, &addr, "--json", "--timeout", "2s"], None);
        let csv = rdpscope(&["scan", &addr, "--csv", "--timeout", "2s"], None);
        (json, csv)
    })
    .await;
    let (json_output, csv_output) = lines;
    assert!(json_output.status.success(), "{json_output:?}");
    let objects: Vec<serde_json::Value> = String::from_utf8_lossy(&json_output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2);
    assert!(objects.iter().all(|o| o["nla_required"] == false));
    let csv = String::from_utf8_lossy(&csv_output.stdout).into_owned();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("target,address,nla_required,rdp,rdp_encryption,tls,"),
        "{csv}"
    );
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[1].contains(",false,refused,,accepted,"), "{csv}");

    // A bad line: exit 2 naming it, and nothing sent (the good target is not scanned).
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("targets.txt");
    std::fs::write(&file, "# fleet\n127.0.0.1:1\nnot a target\n").expect("write");
    let output = rdpscope(&["scan", "--targets", file.to_str().expect("path")], None);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("targets.txt:3: "), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// `serve` with a team's own account (password from an environment variable, never shown)
/// and certificate: a probe pinned to that certificate connects with that account only.
#[tokio::test]
async fn serve_takes_its_own_credentials_and_certificate() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["qa-rdp.test".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let sha256 = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(cert.der()))
    };
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).expect("write");
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).expect("write");
    let password = "qa-team-secret-4711";
    let mut serve = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .args([
            "serve",
            "--scenario",
            "success_hybrid_ex",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--credentials", "QA\\tester:QA_RDP_PASSWORD"])
        .arg("--certificate")
        .arg(dir.path().join("cert.pem"))
        .arg("--key")
        .arg(dir.path().join("key.pem"))
        .env("QA_RDP_PASSWORD", password)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stderr = std::io::BufReader::new(serve.stderr.take().expect("stderr"));
    let mut banner = String::new();
    while !banner.starts_with("Serving scenario") {
        banner.clear();
        assert!(
            stderr.read_line(&mut banner).expect("stderr") > 0,
            "no banner"
        );
    }
    let addr = banner
        .split(" on ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_owned();
    assert!(
        banner.contains("user tester, password from $QA_RDP_PASSWORD"),
        "{banner}"
    );
    let pin = format!("sha256:{sha256}");
    let (good, wrong) = tokio::task::spawn_blocking(move || {
        let probe = |password: &str| {
            rdpscope(
                &[
                    "probe", &addr, "--user", "tester", "--domain", "QA", "--pin", &pin, "--json",
                ],
                Some(password),
            )
        };
        (probe(password), probe(MOCK_PASSWORD))
    })
    .await
    .expect("join");
    let _ = serve.kill();
    let _ = serve.wait();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
    assert_eq!(
        json(&good)["certificate"]["sha256"]
            .as_str()
            .map(str::to_lowercase),
        Some(sha256)
    );
    assert_eq!(json(&wrong)["error"]["stage"], "credssp");
    assert!(!format!("{banner}{rest}").contains(password));

    // Bad input: exit 2 with one line.
    for args in [
        &[
            "serve",
            "--scenario",
            "success_tls",
            "--credentials",
            "tester",
        ][..],
        &[
            "serve",
            "--scenario",
            "success_tls",
            "--credentials",
            "tester:NO_SUCH_VARIABLE_SET",
        ],
        &[
            "serve",
            "--scenario",
            "success_tls",
            "--certificate",
            "/nonexistent.pem",
        ],
    ] {
        let output = rdpscope(args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}

/// `probe FILE.rdp`: a connection file as mstsc writes it (UTF-16LE with a BOM, CRLF) gives
/// the target, the user and the options; what it cannot honour is said first.
#[tokio::test]
async fn probe_reads_an_rdp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_owned();
    let (human, json_output, bad) = with_server(Scenario::SuccessHybridEx, move |addr| {
        let text = format!(
            "screen mode id:i:2\r\nfull address:s:{addr}\r\nusername:s:{MOCK_USER}\r\nauthentication level:i:0\r\ngatewayhostname:s:gw.example\r\ngatewayusagemethod:i:1\r\npassword 51:b:01000000D08C9DDF\r\n"
        );
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let file = dir_path.join("server.rdp");
        std::fs::write(&file, bytes).expect("write");
        let bad_file = dir_path.join("bad.rdp");
        std::fs::write(&bad_file, "full address:s:x\nserver port:i:abc\n").expect("write");
        let file = file.display().to_string();
        (
            rdpscope(&["probe", &file], Some(MOCK_PASSWORD)),
            rdpscope(&["probe", &file, "--json"], Some(MOCK_PASSWORD)),
            rdpscope(&["probe", &bad_file.display().to_string()], None),
        )
    })
    .await;
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("not honoured: the RD Gateway gw.example is not used")),
        "{stdout}"
    );
    let report = json(&json_output);
    // The user came from the file, the password from the environment; authentication
    // level 0 is policy warn (the mock's self-signed certificate only warns).
    assert_eq!(report["credentials_sent"], true);
    assert_eq!(report["not_honoured"].as_array().map(Vec::len), Some(1));
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("bad.rdp:2: `server port` is not a number"),
        "{stderr}"
    );
}
