//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`; not a stable API).
//!
//! Each runs one decoder rdpscope owns exactly as the probe runs it, on arbitrary bytes, and
//! checks what must hold whatever a server sends: no panic, and every failure it reports is
//! one line of visible text (server text escaped).

use ironrdp_pdu::nego::SecurityProtocol;

use crate::probe::activation::{classify, classify_user_data, incoming_failure};
use crate::probe::x224;
use crate::report::ProbeError;
use crate::Stage;

/// Checks that `text` reaches a terminal as one line of visible characters.
fn assert_escaped(text: &str) {
    assert!(
        !text.chars().any(crate::text::is_unsafe),
        "unescaped {text:?}"
    );
}

/// Checks what every reported failure must be: a non-empty line of visible text.
fn check(error: &ProbeError) {
    assert!(!error.message.is_empty(), "empty failure message");
    assert_escaped(&error.message);
}

/// The X.224 Connection Confirm path: the bytes a server sends after the Connection
/// Request, framed ([`x224::split_confirm`]) as if they arrived in one read or byte by
/// byte, then interpreted ([`x224::interpret`]) against the default offer.
pub fn x224_confirm(data: &[u8]) {
    let requested = SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX;
    // Byte by byte: every prefix is either incomplete or decided, and a decision on a prefix
    // is the decision on the whole (the reader stops at the first one).
    let mut decided = None;
    for end in 0..=data.len() {
        if let Some(result) = x224::split_confirm(&data[..end], end == data.len()) {
            decided = Some(result);
            break;
        }
    }
    let Some(result) = decided else {
        panic!("the reader never decided on {} bytes", data.len());
    };
    match result {
        Err(failure) => check(&failure.0),
        Ok((frame, extra)) => {
            let mut negotiation = x224::offered(requested);
            if let Err(failure) = x224::interpret(&frame, &extra, requested, &mut negotiation) {
                check(&failure.0);
            }
        }
    }
}

/// The activation classifier: one PDU as the probe reads it after the security upgrade
/// (Set Error Info, Disconnect Provider Ultimatum, licensing errors), at every stage.
pub fn activation_pdu(data: &[u8]) {
    let incoming = classify(data);
    for stage in &Stage::ALL[Stage::ALL
        .iter()
        .position(|s| *s == Stage::BasicSettings)
        .unwrap_or(0)..]
    {
        if let Some(failure) = incoming_failure(*stage, &incoming) {
            check(&failure.0);
        }
    }
}

/// Set Error Info and licensing error decoding on the user data of an MCS Send Data
/// Indication (the share control and licensing headers).
pub fn share_data(data: &[u8]) {
    let incoming = classify_user_data(data);
    if let Some(failure) = incoming_failure(Stage::SecureSettings, &incoming) {
        check(&failure.0);
    }
}

thread_local! {
    /// One runtime per fuzzing thread, for the stream targets.
    static RUNTIME: tokio::runtime::Runtime = crate::replay::runtime();
}

/// Runs `stage`'s code on `data` as the whole of what a server sends, then checks the outcome.
fn stream(stage: Stage, data: &[u8]) {
    use crate::replay::{replayed, run_activation, run_credssp, run_x224, upgraded_to, violation};
    let out = RUNTIME.with(|runtime| {
        runtime.block_on(async {
            match stage {
                Stage::X224 => run_x224(data).await,
                Stage::Credssp => {
                    let connector = upgraded_to(SecurityProtocol::HYBRID, true);
                    let (client, _server) = replayed(data).await;
                    run_credssp(connector, client).await
                }
                _ => {
                    let connector = upgraded_to(SecurityProtocol::SSL, false);
                    let (client, _server) = replayed(data).await;
                    run_activation(connector, client).await
                }
            }
        })
    });
    if let Some(why) = violation(&out, stage) {
        panic!("{why}");
    }
}

/// Arbitrary bytes as the server's answer to the X.224 Connection Request, through the
/// probe's x224 stage.
pub fn x224_stream(data: &[u8]) {
    stream(Stage::X224, data);
}

/// Arbitrary bytes as everything the server sends in CredSSP (NTLM), through the probe's
/// credssp stage.
pub fn credssp_stream(data: &[u8]) {
    stream(Stage::Credssp, data);
}

/// Arbitrary bytes as everything the server sends after the security upgrade (TLS
/// security), through the probe's activation stages.
pub fn activation_stream(data: &[u8]) {
    stream(Stage::BasicSettings, data);
}

/// Splits `data` into pieces, each led by a two-byte big-endian length (a short last piece
/// takes what is left): a chain of certificates, or lines, from one fuzz input.
fn pieces(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let (piece, tail) = rest.split_at(len.min(rest.len()));
        out.push(piece);
        data = tail;
    }
    out
}

/// The certificate chain analysis on a presented chain of arbitrary DER (pieces led by a
/// two-byte length; the last piece is also the only trust anchor, so that trusted paths
/// are reachable), under the strict policy, with and without a pin. What must hold: every
/// text taken from a certificate is escaped; "not trusted" always comes with a warning or
/// an error that says why; a pin decides alone; without one, strict fails whenever a
/// finding is a warning or worse.
pub fn cert_chain(data: &[u8]) {
    use crate::cert::{self, AnalysisOptions, CertPolicy, Pin, TrustStore};
    use crate::report::Severity;
    use rustls::pki_types::CertificateDer;
    use sha2::Digest as _;

    let chain: Vec<CertificateDer<'static>> = pieces(data)
        .into_iter()
        .take(16)
        .map(|p| CertificateDer::from(p.to_vec()))
        .collect();
    let trust = TrustStore::of(chain.last().map(std::slice::from_ref).unwrap_or(&[]));
    let now = time::OffsetDateTime::from_unix_timestamp(1_798_761_600).expect("a valid time");
    let pin = chain
        .first()
        .map(|leaf| Pin::Sha256(sha2::Sha256::digest(leaf).into()));
    for pin in [None, pin.as_ref()] {
        let options = AnalysisOptions {
            server_name: "rdp.example.test",
            trust: &trust,
            policy: CertPolicy::Strict,
            now,
            expiry_warning_days: 30,
            pin,
        };
        let info = cert::analyze(&chain, &options);
        let texts = [
            &info.subject,
            &info.issuer,
            &info.key,
            &info.signature_algorithm,
        ]
        .into_iter()
        .chain(&info.subject_alt_names)
        .chain(&info.extended_key_usage)
        .chain(info.chain.iter().flat_map(|c| [&c.subject, &c.issuer]))
        .chain(info.findings.iter().map(|f| &f.message));
        for text in texts {
            assert_escaped(text);
        }
        // "Not trusted" always says why, loud enough for strict to fail on it.
        if !info.trusted && info.pin_matched != Some(true) {
            assert!(
                info.findings
                    .iter()
                    .any(|f| f.severity >= Severity::Warning),
                "not trusted without a finding that says why: {:?}",
                info.findings
            );
        }
        match pin {
            // The pin is the leaf's own fingerprint: it matches, and it decides alone.
            Some(_) => assert_eq!(info.pin_matched, Some(true), "the leaf missed its pin"),
            None => {
                let warned = info
                    .findings
                    .iter()
                    .any(|f| f.severity >= Severity::Warning);
                let fails = cert::stage_fails(&info, CertPolicy::Strict);
                assert!(!warned || fails, "strict passed {info:?}");
            }
        }
    }
}

/// The NTLM CHALLENGE reader on arbitrary bytes: no panic, and every name it reports is
/// escaped.
pub fn ntlm_challenge(data: &[u8]) {
    let _ = crate::ntlm::message_type(data);
    if let Some(challenge) = crate::ntlm::Challenge::parse(data) {
        let names = [
            &challenge.target_name,
            &challenge.netbios_computer,
            &challenge.netbios_domain,
            &challenge.dns_computer,
            &challenge.dns_domain,
            &challenge.dns_tree,
        ];
        for name in names.into_iter().flatten() {
            assert_escaped(name);
        }
        let _ = challenge.server_time();
    }
}

/// The PDU trail on arbitrary bytes, cut and named as each layer and stage sees them: no
/// panic, no empty frame, every name one line of visible text. Then the capture's redaction
/// on the same bytes as a client plaintext: when it accepts them, every NTLM AUTHENTICATE
/// message in them has its responses, session key and MIC blanked.
pub fn trail(data: &[u8]) {
    use crate::probe::trail::{pdu, Layer};
    use crate::report::Direction;
    for layer in [Layer::Wire, Layer::Plain] {
        for stage in [
            Stage::X224,
            Stage::Tls,
            Stage::Credssp,
            Stage::BasicSettings,
        ] {
            let mut rest = data;
            while !rest.is_empty() {
                let len = match pdu::length(layer, stage, rest) {
                    Some(len) if len <= rest.len() => {
                        assert!(len > 0, "an empty frame");
                        len
                    }
                    _ => rest.len(),
                };
                let named = pdu::name(layer, Direction::Received, stage, &rest[..len]);
                // Names go into the report as they are: they must be escaped already.
                assert_escaped(&named.name);
                if let Some(detail) = &named.step_detail {
                    assert_escaped(detail);
                }
                rest = &rest[len..];
            }
        }
    }
    let mut content = data.to_vec();
    if crate::capture::redact_plaintext(&mut content).is_some() {
        const AUTHENTICATE: &[u8] = b"NTLMSSP\0\x03\0\0\0";
        for at in 0..content.len() {
            if !content[at..].starts_with(AUTHENTICATE) {
                continue;
            }
            let secrets = crate::ntlm::authenticate_secrets(&content[at..])
                .expect("an AUTHENTICATE the redaction accepted parses");
            for range in secrets.ranges() {
                assert!(
                    content[at + range.start..at + range.end]
                        .iter()
                        .all(|&b| b == 0),
                    "an AUTHENTICATE secret left at {range:?}"
                );
            }
        }
    }
}

/// The scan's reading of a server's answer to a hand-built ClientHello, fed whole and as
/// every prefix: no panic, and a prefix that reads as an answer reads as the same answer
/// with more bytes after it (`scan` stops at the first answer).
pub fn scan_hello(data: &[u8]) {
    use crate::scan::hello::answer;
    let whole = answer(data);
    for end in 0..data.len() {
        if let Some(early) = answer(&data[..end]) {
            assert_eq!(Some(early), whole, "an answer changed with more bytes");
            break;
        }
    }
}

/// The scan's reading of an MCS Connect Response for Standard RDP Security (its Server
/// Security Data and server certificate): no panic, and no method is named none unless it
/// is 0.
pub fn scan_connect_response(data: &[u8]) {
    if let Some(chosen) = crate::scan::rdp::read_security(data) {
        assert!(
            (chosen.method == 0) == (chosen.method_name == "ENCRYPTION_METHOD_NONE"),
            "{chosen:?}"
        );
        assert!(chosen.key_bits.is_none() || chosen.certificate == Some("proprietary"));
    }
}

/// A `.rdp` connection file, decoded and read as `probe FILE.rdp` reads it: no panic, and
/// every error and every unsupported setting is one line of visible text.
pub fn rdp_file(data: &[u8]) {
    let Ok(text) = crate::rdpfile::decode(data) else {
        return;
    };
    match crate::rdpfile::parse("fuzz.rdp", &text) {
        Ok(file) => {
            for line in file.unsupported.iter().chain(&file.notes) {
                assert!(!line.contains('\n'), "{line:?}");
            }
        }
        Err(error) => assert_escaped(&error),
    }
}

/// A suite file read as `rdpscope suite` reads it (every environment variable set, paths
/// relative to a directory that does not exist): no panic, and every error is one line
/// naming the file and a line of it.
pub fn suite_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = std::path::Path::new("/nonexistent-rdpscope-fuzz");
    match crate::suite::parse("fuzz.toml", text, dir, &|_| Some("x".to_owned())) {
        Ok(suite) => assert!(!suite.cases.is_empty()),
        Err(error) => {
            let line = error
                .strip_prefix("fuzz.toml:")
                .unwrap_or_else(|| panic!("{error:?}"));
            if let Some((number, _)) = line.split_once(": ") {
                if let Ok(number) = number.parse::<usize>() {
                    assert!(
                        number >= 1 && number <= text.lines().count() + 1,
                        "{error:?}"
                    );
                }
            }
        }
    }
}

/// The known-hosts reader on arbitrary text: no panic, and every entry it accepts is
/// written back as one line that reads back as the same entry.
pub fn known_hosts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(entries) = crate::cert::known_hosts::parse(&text) {
        for entry in entries {
            let line = entry.line();
            assert!(
                !line.contains('\n'),
                "an entry written over two lines: {line:?}"
            );
            let again = crate::cert::known_hosts::parse(&line).expect("a written line reads back");
            assert_eq!(again, vec![entry]);
        }
    }
}

/// The terminal escaping on arbitrary text: the result is one line of visible text, text
/// without anything to escape is unchanged, and escaping twice changes nothing more.
pub fn render_escape(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let once = crate::text::escape(&text);
    assert_escaped(&once);
    if !text.chars().any(crate::text::is_unsafe) {
        assert_eq!(once, text);
    }
    assert_eq!(crate::text::escape(&once), once);
}
