//! `rdpscope suite` as a QA team's CI runs it: the sample suite in `examples/`, JUnit XML
//! read back by an independent reader (`junit-parser`), failures vs errors, `--json`,
//! `--filter`, `--list`, and a bad suite file refused with its line before anything is
//! sent.

mod support;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use rdpscope::mock::{Scenario, MOCK_PASSWORD, MOCK_USER};
use support::cli::{rdpscope, with_server};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/suite.toml");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `content` as `suite.toml` in a fresh directory.
fn suite_file(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("suite.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .expect("write suite");
    (dir, path)
}

fn junit(path: &Path) -> junit_parser::TestSuites {
    let file = std::fs::File::open(path).expect("junit file written");
    junit_parser::from_reader(std::io::BufReader::new(file)).expect("a JUnit reader reads it")
}

fn property<'a>(case: &'a junit_parser::TestCase, name: &str) -> Option<&'a str> {
    case.properties.hashmap.get(name).map(String::as_str)
}

#[test]
fn the_sample_suite_passes_and_its_junit_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let xml = dir.path().join("junit.xml");
    let output = rdpscope(
        &["suite", EXAMPLE, "--junit", xml.to_str().expect("utf-8")],
        None,
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("9 of 9 cases met their expectation (0 failed, 0 could not run)"),
        "{stdout}"
    );
    let suites = junit(&xml);
    assert_eq!((suites.tests, suites.failures, suites.errors), (9, 0, 0));
    let suite = &suites.suites[0];
    assert_eq!(suite.name, "rdpscope-sample");
    assert_eq!(suite.cases.len(), 9);
    for case in &suite.cases {
        assert!(case.status.is_success(), "{}", case.name);
        assert!(case.time > 0.0, "{}", case.name);
        assert!(property(case, "stage.tcp_ms").is_some(), "{}", case.name);
    }
    let nla = &suite.cases[0];
    assert_eq!(nla.original_name, "healthy NLA server connects");
    assert_eq!(property(nla, "protocol"), Some("hybrid_ex"));
    assert!(property(nla, "stage.credssp_ms").is_some());
    let thumbprint = property(nla, "certificate.sha256").expect("thumbprint");
    assert_eq!(thumbprint.len(), 64, "{thumbprint}");
    assert!(nla
        .system_out
        .as_deref()
        .is_some_and(|out| out.contains("connected")));
    let refused = suite
        .cases
        .iter()
        .find(|c| c.original_name == "NLA required, client offers TLS only")
        .expect("case");
    assert_eq!(
        property(refused, "observed"),
        Some("x224/negotiation_failure (HYBRID_REQUIRED_BY_SERVER)")
    );
    assert_eq!(property(refused, "credentials_sent"), Some("false"));
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_and_errors_are_told_apart() {
    with_server(Scenario::SuccessTls, |addr| {
        let suite = format!(
            r#"
[defaults]
timeout = "2s"

[[case]]
name = "met"
target = "{addr}"

[[case]]
name = "not met"
target = "{addr}"
[case.expect]
stage = "credssp"
kind = "logon_failure"
max_time = "1ms"

# sysfs reads as empty and takes no new file, even from root: the known-hosts file
# cannot be written, which the probe reports as its own (internal) failure.
[[case]]
name = "cannot run"
target = "{addr}"
known_hosts = "/sys/rdpscope-known-hosts"
"#
        );
        let (dir, path) = suite_file(&suite);
        let xml = dir.path().join("out.xml");
        let output = rdpscope(
            &[
                "suite",
                path.to_str().expect("utf-8"),
                "--junit",
                xml.to_str().expect("utf-8"),
                "--json",
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(json["passed"], 1);
        assert_eq!(json["failed"], 1);
        assert_eq!(json["errors"], 1);
        let statuses: Vec<&str> = json["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| c["status"].as_str().expect("status"))
            .collect();
        assert_eq!(statuses, ["passed", "failed", "error"]);
        assert_eq!(json["cases"][0]["report"]["outcome"], "connected");

        let suites = junit(&xml);
        assert_eq!((suites.tests, suites.failures, suites.errors), (3, 1, 1));
        let cases = &suites.suites[0].cases;
        assert!(cases[0].status.is_success());
        let failure = cases[1].status.failure_as_ref();
        assert_eq!(failure.failure_type, "expectation not met");
        assert!(
            failure
                .message
                .starts_with("expected credssp/logon_failure, observed connected: "),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("over the 1 ms limit"),
            "{}",
            failure.message
        );
        let error = cases[2].status.error_as_ref();
        assert_eq!(error.error_type, "could not run");
        assert!(
            error.message.contains("cannot use the known hosts file"),
            "{}",
            error.message
        );
    })
    .await;
}

/// Every broken file is refused with exit 2 and `FILE:LINE: why`, and the valid case
/// before the broken one sends nothing: its listener has no connection waiting.
#[test]
fn a_bad_suite_is_refused_by_line_before_anything_is_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let good = format!("[[case]]\nname = \"first\"\ntarget = \"{addr}\"\n\n");
    let broken = [
        ("[[case]]\nname = \"x\"\nscenario = \"no_such_scenario\"\n", 3, "`scenario`: unknown scenario"),
        ("[[case]]\nname = \"x\"\n", 1, "needs exactly one of `target`, `scenario` or `rdp_file`"),
        ("[[case]]\nname = \"x\"\ntarget = \"h\"\ntimeuot = \"1s\"\n", 4, "unknown field `timeuot`"),
        ("[[case]]\nname = \"x\"\ntarget = \"h\"\npassword = \"hunter2\"\n", 4, "a password never goes in a suite file"),
        ("[[case]]\nname = \"x\"\ntarget = \"h\"\nuser = \"u\"\npassword_env = \"RDPSCOPE_TEST_UNSET\"\n", 5, "the environment variable RDPSCOPE_TEST_UNSET holds no password"),
        ("[[case]]\nname = \"x\"\ntarget = \"h\"\n[case.expect]\nntstatus = \"HYBRID_REQUIRED_BY_SERVER\"\n", 5, "`ntstatus`: not a ntstatus code"),
        ("[[case]]\nname = \"first\"\ntarget = \"h\"\n", 2, "a case named `first` is already on line 1"),
        ("[[case]]\nname = \"x\"\ntarget = \"h\"\n[case.expect]\noutcome = \"connected\"\nstage = \"tls\"\n", 1, "expects the outcome connected but names a failure"),
        ("[[case]]\nname = \"x\"\ntarget = \"h\" \"junk\"\n", 3, ""),
    ];
    for (case, line, why) in broken {
        let (_dir, path) = suite_file(&format!("{good}{case}"));
        let output = rdpscope(&["suite", path.to_str().expect("utf-8")], None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
        let prefix = format!("rdpscope: {}:{}: ", path.display(), line + 4);
        assert!(
            stderr.starts_with(&prefix),
            "{case}: {stderr} (wanted {prefix})"
        );
        assert!(stderr.contains(why), "{case}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    assert!(
        listener
            .accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "a case ran although the suite was broken"
    );
}

#[test]
fn filter_and_list() {
    let listed = rdpscope(
        &["suite", EXAMPLE, "--list", "--filter", "certificate"],
        None,
    );
    let stdout = text(&listed.stdout);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split("  ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "expired certificate stops before credentials",
            "expired certificate accepted with a warning",
            "reaches the certificate stage"
        ]
    );
    assert!(
        stdout.contains("expect certificate/certificate"),
        "{stdout}"
    );
    assert!(stdout.contains("expect reached certificate"), "{stdout}");

    let run = rdpscope(&["suite", EXAMPLE, "--filter", "wrong password"], None);
    assert_eq!(run.status.code(), Some(0));
    assert!(text(&run.stdout).contains("1 of 1 cases met their expectation"));

    let none = rdpscope(&["suite", EXAMPLE, "--filter", "zzz"], None);
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none.stderr).contains("no case name contains zzz"));
}

/// The password comes from the variable `password_env` names, and appears in no output.
#[test]
fn passwords_come_from_the_environment_and_stay_out_of_the_results() {
    let suite = format!(
        r#"
[defaults]
user = "{MOCK_USER}"
password_env = "QA_RDP_PASSWORD"

[[case]]
name = "right password"
scenario = "success_hybrid"

[[case]]
name = "the server refuses this password"
scenario = "success_hybrid"
password_env = "QA_RDP_WRONG_PASSWORD"
[case.expect]
stage = "credssp"
kind = "logon_failure"
ntstatus = 0xC000006D
credentials_sent = true
"#
    );
    let (dir, path) = suite_file(&suite);
    let xml = dir.path().join("junit.xml");
    let wrong = "Wr0ng-but-recognisable";
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .args(["suite", path.to_str().expect("utf-8"), "--json"])
        .args(["--junit", xml.to_str().expect("utf-8")])
        .env("QA_RDP_PASSWORD", MOCK_PASSWORD)
        .env("QA_RDP_WRONG_PASSWORD", wrong)
        .output()
        .expect("runs");
    check_quiet(&output, &[MOCK_PASSWORD, wrong]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let junit = std::fs::read_to_string(&xml).expect("junit");
    assert!(!junit.contains(MOCK_PASSWORD) && !junit.contains(wrong));
}

fn check_quiet(output: &Output, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text(&output.stdout).contains(secret), "password on stdout");
        assert!(!text(&output.stderr).contains(secret), "password on stderr");
    }
}

/// A `.rdp` case: the file's target (relative to the suite), its settings under the
/// case's, and what cannot be honoured carried in the case's report.
#[tokio::test(flavor = "multi_thread")]
async fn an_rdp_file_case_reads_its_file() {
    with_server(Scenario::NegotiationFailure(5), |addr| {
        let (dir, path) = suite_file(
            "[[case]]\nname = \"from the file\"\nrdp_file = \"kiosk.rdp\"\n[case.expect]\nneg_failure = \"HYBRID_REQUIRED_BY_SERVER\"\n",
        );
        // enablecredsspsupport:i:0: mstsc would not offer NLA, and neither does the probe.
        std::fs::write(
            dir.path().join("kiosk.rdp"),
            format!("full address:s:{addr}\nenablecredsspsupport:i:0\ngatewayhostname:s:gw.example\ngatewayusagemethod:i:1\n"),
        )
        .expect("write .rdp");
        let output = rdpscope(&["suite", path.to_str().expect("utf-8"), "--json"], None);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let report = &json["cases"][0]["report"];
        assert_eq!(report["negotiation"]["requested"], serde_json::json!(["tls"]));
        let not_honoured = report["not_honoured"][0].as_str().expect("not honoured");
        assert!(not_honoured.contains("RD Gateway gw.example"), "{not_honoured}");
    })
    .await;
}
