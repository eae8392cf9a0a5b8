//! The checked-in certificate fixtures (`fixtures/`) match the manifest in
//! `rdpscope::fixtures::FIXTURES`, and `generate` writes the same set of files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rdpscope::fixtures::{self, Fixture, StageResult, FIXTURES, MANIFEST_FILE, TEST_CA_FILE};
use rdpscope::report::Severity;
use x509_parser::prelude::{FromDer as _, X509Certificate};

fn checked_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8 name")
        })
        .collect()
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

fn parse<'a>(der: &'a [u8], what: &str) -> X509Certificate<'a> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        rest.is_empty(),
        "{what}: trailing bytes after the certificate"
    );
    cert
}

/// The key file holds the private key of the leaf's public key.
fn assert_key_matches(fixture: &Fixture, leaf: &X509Certificate<'_>, key_der: &[u8]) {
    let spki = leaf.public_key();
    let public = spki.subject_public_key.data.to_vec();
    if spki.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1" {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let key = rsa::RsaPrivateKey::from_pkcs8_der(key_der)
            .unwrap_or_else(|e| panic!("{}: RSA key: {e}", fixture.name));
        let derived = key
            .to_public_key()
            .to_pkcs1_der()
            .expect("encode public key");
        assert_eq!(
            derived.as_bytes(),
            public,
            "{}: key does not match",
            fixture.name
        );
    } else {
        let key = rcgen::KeyPair::try_from(key_der)
            .unwrap_or_else(|e| panic!("{}: key: {e}", fixture.name));
        assert_eq!(
            key.public_key_raw(),
            public,
            "{}: key does not match",
            fixture.name
        );
    }
}

#[test]
fn every_fixture_file_exists_and_parses() {
    let dir = checked_in();
    for fixture in FIXTURES {
        let (chain, key) = fixtures::read_chain(&dir, fixture.name)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        assert!(!chain.is_empty(), "{}: empty chain", fixture.name);
        for (i, der) in chain.iter().enumerate() {
            parse(der, &format!("{} certificate {i}", fixture.name));
        }
        let leaf = parse(&chain[0], fixture.name);
        assert!(!leaf.is_ca(), "{}: the leaf is a CA", fixture.name);
        assert_key_matches(fixture, &leaf, &key);
    }

    let pem = std::fs::read(dir.join(TEST_CA_FILE)).expect("test-ca.crt");
    let anchors =
        rdpscope::cert::read_pem_certificates(&dir.join(TEST_CA_FILE)).expect("test-ca.crt parses");
    assert_eq!(anchors.len(), 1, "test-ca.crt holds one certificate");
    assert!(!pem.is_empty());
    let ca = parse(&anchors[0], TEST_CA_FILE);
    assert!(ca.is_ca());
    assert_eq!(ca.subject(), ca.issuer());
    assert_eq!(
        ca.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok()),
        Some("rdpscope Test Root CA")
    );
}

#[test]
fn chains_have_the_promised_shape() {
    let dir = checked_in();
    let chain = |name: &str| fixtures::read_chain(&dir, name).expect("fixture").0;
    let cn = |der: &[u8]| -> String {
        let cert = parse(der, "certificate");
        let name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        name
    };
    assert_eq!(chain("intermediate-chain").len(), 2);
    assert_eq!(
        cn(&chain("intermediate-chain")[1]),
        "rdpscope Test Intermediate CA"
    );
    assert_eq!(chain("intermediate-missing").len(), 1);
    let wrong_order = chain("chain-wrong-order");
    assert_eq!(
        wrong_order[1..].iter().map(|d| cn(d)).collect::<Vec<_>>(),
        [
            "rdpscope Test Intermediate CA 1",
            "rdpscope Test Intermediate CA 2"
        ]
    );
    let weak = chain("weak-rsa-1024");
    let weak = parse(&weak[0], "weak-rsa-1024");
    assert_eq!(
        weak.public_key().parsed().map(|k| k.key_size()).ok(),
        Some(1024)
    );
}

#[test]
fn manifest_lists_exactly_the_fixtures() {
    let text = std::fs::read_to_string(checked_in().join(MANIFEST_FILE)).expect("manifest.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("manifest.toml is TOML");
    assert_eq!(
        manifest.get("trust_anchor").and_then(|v| v.as_str()),
        Some(TEST_CA_FILE)
    );
    let entries = manifest
        .get("fixture")
        .and_then(|v| v.as_array())
        .expect("[[fixture]] tables");
    assert_eq!(entries.len(), FIXTURES.len(), "one table per fixture");

    let str_field = |entry: &toml::Value, key: &str| -> String {
        entry
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("missing string field {key}"))
            .to_owned()
    };
    let list_field = |entry: &toml::Value, key: &str| -> Vec<String> {
        entry
            .get(key)
            .and_then(|v| v.as_array())
            .unwrap_or_else(|| panic!("missing array field {key}"))
            .iter()
            .map(|v| v.as_str().expect("string item").to_owned())
            .collect()
    };
    let result = |r: StageResult| r.name().to_owned();

    for (entry, fixture) in entries.iter().zip(FIXTURES) {
        assert_eq!(str_field(entry, "name"), fixture.name);
        assert_eq!(
            list_field(entry, "files"),
            [fixture.cert_file(), fixture.key_file()],
            "{}",
            fixture.name
        );
        assert_eq!(str_field(entry, "purpose"), fixture.purpose);
        assert_eq!(str_field(entry, "server_name"), fixture.server_name);
        let findings: Vec<String> = fixture
            .findings
            .iter()
            .map(|(code, severity)| format!("{code}:{}", severity_name(*severity)))
            .collect();
        assert_eq!(list_field(entry, "findings"), findings, "{}", fixture.name);
        assert_eq!(str_field(entry, "default"), result(fixture.default));
        assert_eq!(str_field(entry, "strict"), result(fixture.strict));
        assert_eq!(str_field(entry, "warn"), result(fixture.warn));
        for file in list_field(entry, "files") {
            assert!(checked_in().join(&file).is_file(), "{file} is missing");
        }
    }
}

#[test]
fn generate_writes_the_checked_in_set_of_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::generate(dir.path()).expect("generate");

    let mut expected = file_names(&checked_in());
    expected.remove("README.md");
    assert_eq!(file_names(dir.path()), expected);

    // What generate writes reads back, and its manifest is the checked-in one.
    for fixture in FIXTURES {
        fixtures::read_chain(dir.path(), fixture.name)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).expect("manifest"),
        std::fs::read_to_string(checked_in().join(MANIFEST_FILE)).expect("manifest"),
        "the checked-in manifest.toml is stale: run `rdpscope fixtures generate fixtures/`"
    );
}
