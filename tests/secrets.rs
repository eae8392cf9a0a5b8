//! No output of rdpscope ever holds the password or anything it can be recovered from.
//!
//! A known password goes through every mock scenario and every verbosity (`-v`, `-vv`,
//! `RDPSCOPE_LOG=trace`, with and without `--json`, with `--pcap` and `--keylog`), through
//! `bench` and `serve`; stdout, stderr and every file the run wrote are searched for the
//! password as text, UTF-16LE, hex, base64 and byte lists, for its NT hash, and for raw NTLM
//! messages (an AUTHENTICATE message is a crackable NetNTLMv2 response).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use md4::Digest as _;
use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD, MOCK_USER};

/// The password the tests hand to rdpscope (ASCII and not, so that UTF-8 and UTF-16 differ).
const SECRET: &str = "Tr0ub4dor&3-sécret-Σ";

/// The ways a secret can show up in text output, each with a name for the failure message.
fn forms(secret: &[u8], what: &str) -> Vec<(String, Vec<u8>)> {
    let mut forms = vec![(format!("{what} as raw bytes"), secret.to_vec())];
    let hex_lower = hex::encode(secret);
    forms.push((format!("{what} as hex"), hex_lower.clone().into_bytes()));
    forms.push((
        format!("{what} as upper-case hex"),
        hex_lower.to_uppercase().into_bytes(),
    ));
    for separator in [", ", ",", " "] {
        let decimal: Vec<String> = secret.iter().map(u8::to_string).collect();
        forms.push((
            format!("{what} as a decimal byte list"),
            decimal.join(separator).into_bytes(),
        ));
        let hex: Vec<String> = secret.iter().map(|b| format!("0x{b:02x}")).collect();
        forms.push((
            format!("{what} as a hex byte list"),
            hex.join(separator).into_bytes(),
        ));
        let hex: Vec<String> = secret.iter().map(|b| format!("0x{b:02X}")).collect();
        forms.push((
            format!("{what} as an upper-case hex byte list"),
            hex.join(separator).into_bytes(),
        ));
    }
    // Inside a longer base64 text the secret can start at any of three byte offsets; the
    // characters that encode only its own whole 3-byte groups are the same in every text.
    for offset in 0..3 {
        let rest = &secret[offset..];
        let whole = &rest[..rest.len() / 3 * 3];
        for engine in [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            forms.push((
                format!("{what} as base64 (offset {offset})"),
                engine.encode(whole).into_bytes(),
            ));
        }
    }
    forms
}

/// Every form of the password, its UTF-16LE encoding, its NT hash, and NTLM messages.
fn forbidden() -> Vec<(String, Vec<u8>)> {
    let utf16: Vec<u8> = SECRET.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let nt_hash = md4::Md4::digest(&utf16).to_vec();
    let mut all = forms(SECRET.as_bytes(), "the password");
    all.extend(forms(&utf16, "the password in UTF-16LE"));
    all.extend(forms(&nt_hash, "the NT hash"));
    // "NTLMSSP\0": the signature of every NTLM message (the AUTHENTICATE message carries the
    // crackable response; none of them belongs in a log).
    all.extend(forms(b"NTLMSSP\0", "an NTLM message"));
    all
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Fails when `bytes` (named `source`) holds any forbidden form; matching is
/// case-insensitive for hex and exact otherwise.
fn assert_clean(source: &str, bytes: &[u8], forbidden: &[(String, Vec<u8>)]) {
    for (what, needle) in forbidden {
        assert!(
            !find(bytes, needle),
            "{source} contains {what}:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// Searches every file under `dir`.
fn assert_files_clean(dir: &Path, forbidden: &[(String, Vec<u8>)]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_files_clean(&path, forbidden);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert_clean(&path.display().to_string(), &bytes, forbidden);
        }
    }
}

/// One run of the binary with the secret in `RDPSCOPE_PASSWORD`, `HOME` and the working
/// directory in `home` (so that every file it writes lands there).
fn rdpscope(args: &[String], log: Option<&str>, home: &Path, password: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rdpscope"));
    command
        .args(args)
        .env("RDPSCOPE_PASSWORD", password)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("RDPSCOPE_LOG")
        .current_dir(home)
        .stdin(Stdio::null());
    if let Some(filter) = log {
        command.env("RDPSCOPE_LOG", filter);
    }
    command.output().expect("rdpscope runs")
}

/// The verbosities: flags and `RDPSCOPE_LOG` filter.
const VERBOSITIES: &[(&[&str], Option<&str>)] = &[
    (&[], None),
    (&["-v"], None),
    (&["-vv"], None),
    (&[], Some("trace")),
    (
        &[],
        Some("sspi=trace,ironrdp_connector=trace,ironrdp_acceptor=trace"),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_of_a_probe_holds_the_password() {
    let forbidden = forbidden();
    let home = tempfile::tempdir().expect("tempdir");
    let mut runs = 0;
    for &scenario in Scenario::ALL {
        let server = MockServer::builder()
            .scenario(scenario)
            .credentials(MOCK_USER, None, SECRET)
            .start()
            .await
            .expect("mock server starts");
        let addr = server.addr().to_string();
        // The verbosities of one scenario run side by side.
        let mut runs_of_scenario = Vec::new();
        for (index, (flags, log)) in VERBOSITIES.iter().enumerate() {
            let mut args: Vec<String> = vec!["probe".into(), addr.clone()];
            args.extend(flags.iter().map(|f| (*f).to_owned()));
            args.extend(
                [
                    "--user",
                    MOCK_USER,
                    "--timeout",
                    "500ms",
                    "--cert-policy",
                    "warn",
                    "--known-hosts",
                    "known_hosts",
                ]
                .map(str::to_owned),
            );
            if index % 2 == 1 {
                args.push("--json".into());
            }
            if index == 0 {
                // The capture (its packet comments are plaintext) and the key log land in
                // `home` too, and are searched with every other file.
                let name = scenario.name();
                args.extend(["--pcap".into(), format!("{name}.pcapng")]);
                args.extend(["--keylog".into(), format!("{name}.keys")]);
            }
            let home_path = home.path().to_owned();
            let context = format!("{} {flags:?} RDPSCOPE_LOG={log:?}", scenario.name());
            let log = log.map(str::to_owned);
            runs_of_scenario.push((
                context,
                tokio::task::spawn_blocking(move || {
                    rdpscope(&args, log.as_deref(), &home_path, SECRET)
                }),
            ));
        }
        for (context, run) in runs_of_scenario {
            let output = run.await.expect("join");
            assert_clean(&format!("stdout of {context}"), &output.stdout, &forbidden);
            assert_clean(&format!("stderr of {context}"), &output.stderr, &forbidden);
            runs += 1;
        }
        server.shutdown().await;
    }
    assert_files_clean(home.path(), &forbidden);
    assert_eq!(runs, Scenario::ALL.len() * VERBOSITIES.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_output_does_not_hold_the_password() {
    let forbidden = forbidden();
    let home = tempfile::tempdir().expect("tempdir");
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybridEx)
        .credentials(MOCK_USER, None, SECRET)
        .start()
        .await
        .expect("mock server starts");
    for json in [false, true] {
        let mut args: Vec<String> = [
            "bench",
            &server.addr().to_string(),
            "--user",
            MOCK_USER,
            "--connections",
            "4",
            "--concurrency",
            "2",
        ]
        .map(str::to_owned)
        .to_vec();
        if json {
            args.push("--json".into());
        }
        let home_path = home.path().to_owned();
        let output =
            tokio::task::spawn_blocking(move || rdpscope(&args, Some("trace"), &home_path, SECRET))
                .await
                .expect("join");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_clean("bench stdout", &output.stdout, &forbidden);
        assert_clean("bench stderr", &output.stderr, &forbidden);
    }
    server.shutdown().await;
    assert_files_clean(home.path(), &forbidden);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_does_not_log_the_password_a_client_sends() {
    // `serve` knows only the mock password, which it announces in its banner; at trace level
    // its log must not hold that password anywhere else, nor any NTLM message.
    let forbidden: Vec<(String, Vec<u8>)> = {
        let utf16: Vec<u8> = MOCK_PASSWORD
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut all = forms(MOCK_PASSWORD.as_bytes(), "the password");
        all.extend(forms(&utf16, "the password in UTF-16LE"));
        all.extend(forms(&md4::Md4::digest(&utf16), "the NT hash"));
        all.extend(forms(b"NTLMSSP\0", "an NTLM message"));
        all
    };
    let home = tempfile::tempdir().expect("tempdir");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_rdpscope"))
        .args([
            "serve",
            "--scenario",
            "success_hybrid_ex",
            "--listen",
            &addr,
        ])
        .env("RDPSCOPE_LOG", "trace")
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut report = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let args: Vec<String> = ["probe", &addr, "--user", MOCK_USER, "--json"]
            .map(str::to_owned)
            .to_vec();
        let home_path = home.path().to_owned();
        let output =
            tokio::task::spawn_blocking(move || rdpscope(&args, None, &home_path, MOCK_PASSWORD))
                .await
                .expect("join");
        if output.status.code() == Some(0) {
            report = Some(output);
            break;
        }
    }
    let _ = serve.kill();
    let output = serve.wait_with_output().expect("serve output");
    assert!(report.is_some(), "the probe never connected to serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let banner = stderr
        .lines()
        .position(|line| line.starts_with("Serving scenario"))
        .expect("banner");
    let rest: Vec<&str> = stderr
        .lines()
        .enumerate()
        .filter(|(index, _)| *index != banner)
        .map(|(_, line)| line)
        .collect();
    assert!(rest.iter().any(|l| l.contains("CredSSP")), "{stderr}");
    assert_clean("serve stderr", rest.join("\n").as_bytes(), &forbidden);
    assert_clean("serve stdout", &output.stdout, &forbidden);
}
