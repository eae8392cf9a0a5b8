//! Certificate fixtures: the certificate situations an RDP client meets, generated with
//! rcgen, each with the findings the certificate analysis must report for it.
//!
//! [`FIXTURES`] is the manifest as data; [`generate`] writes every fixture to a directory
//! (`NAME.crt`: the PEM chain a server presents, leaf first; `NAME.key`: the leaf's PKCS#8
//! PEM key), the trust anchor [`TEST_CA_FILE`] and [`MANIFEST_FILE`], which lists the same
//! data for tools outside Rust. [`read_chain`] reads one fixture back as DER.
//!
//! The expected findings assume that the probe connects to `127.0.0.1` (or checks the
//! fixture's [`Fixture::server_name`]), trusts the system roots plus `test-ca.crt`, and runs
//! at any date between 2021 and 2099: every valid certificate runs from 2000-01-01 to
//! 9999-12-31, so the set never goes stale.
//!
//! Defaults of every leaf unless its purpose says otherwise: an ECDSA P-256 key; subject
//! alternative names `DNS:localhost`, `IP:127.0.0.1`, `IP:::1`; extended key usage
//! serverAuth; key usage digitalSignature and keyEncipherment.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData,
    SignatureAlgorithm, SigningKey,
};
use rsa::pkcs8::der::pem::LineEnding;
use serde::Serialize;

use crate::cert::{der_tlv, CertPolicy, FindingCode};
use crate::report::Severity;

/// The expected result of the certificate stage under one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageResult {
    /// The certificate stage passes.
    Pass,
    /// The certificate stage fails.
    Fail,
}

impl StageResult {
    /// The name used in the manifest: `pass` or `fail`.
    pub fn name(self) -> &'static str {
        match self {
            StageResult::Pass => "pass",
            StageResult::Fail => "fail",
        }
    }
}

/// One fixture of the manifest.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fixture {
    /// File stem: `NAME.crt` (the PEM chain served, leaf first, then intermediates) and
    /// `NAME.key` (the leaf's PEM PKCS#8 private key).
    pub name: &'static str,
    /// What the fixture is for, in one sentence.
    pub purpose: &'static str,
    /// The name the probe checks the certificate against (`127.0.0.1` unless said).
    pub server_name: &'static str,
    /// The findings the analysis must report, exactly: (code, severity), in any order.
    pub findings: &'static [(FindingCode, Severity)],
    /// The certificate stage under `--cert-policy default` (fails iff any error).
    pub default: StageResult,
    /// The certificate stage under `--cert-policy strict` (fails iff any warning or error).
    pub strict: StageResult,
    /// The certificate stage under `--cert-policy warn` (never fails).
    pub warn: StageResult,
    /// How to generate it, and the checked-in copy compiled into the binary.
    #[serde(skip)]
    recipe: Recipe,
}

/// How a fixture is generated, and its checked-in files as compiled into the binary.
#[derive(Clone, Copy)]
struct Recipe {
    build: fn(&Authorities) -> io::Result<Built>,
    chain_pem: &'static str,
    key_pem: &'static str,
}

impl std::fmt::Debug for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recipe")
    }
}

impl Fixture {
    /// The PEM chain file name, `NAME.crt`.
    pub fn cert_file(&self) -> String {
        format!("{}.crt", self.name)
    }

    /// The PEM private key file name, `NAME.key`.
    pub fn key_file(&self) -> String {
        format!("{}.key", self.name)
    }
}

/// The trust anchor file: "rdpscope Test Root CA", trusted by the probe, never served.
pub const TEST_CA_FILE: &str = "test-ca.crt";
/// The manifest file written by [`generate`].
pub const MANIFEST_FILE: &str = "manifest.toml";
/// The server name the probe checks unless a fixture says otherwise.
pub const DEFAULT_SERVER_NAME: &str = "127.0.0.1";

/// A manifest entry; the stage results follow from the findings' severities.
const fn fixture(
    name: &'static str,
    purpose: &'static str,
    server_name: &'static str,
    findings: &'static [(FindingCode, Severity)],
    recipe: Recipe,
) -> Fixture {
    Fixture {
        name,
        purpose,
        server_name,
        findings,
        recipe,
        default: expected_result(findings, CertPolicy::Default),
        strict: expected_result(findings, CertPolicy::Strict),
        warn: expected_result(findings, CertPolicy::Warn),
    }
}

/// The certificate stage under `policy` for these findings: fails iff the policy
/// [decides](CertPolicy::decides) on one of them.
const fn expected_result(findings: &[(FindingCode, Severity)], policy: CertPolicy) -> StageResult {
    let mut i = 0;
    while i < findings.len() {
        if policy.decides(findings[i].1) {
            return StageResult::Fail;
        }
        i += 1;
    }
    StageResult::Pass
}

const EXPIRED: (FindingCode, Severity) = (FindingCode::Expired, Severity::Error);
const NOT_YET_VALID: (FindingCode, Severity) = (FindingCode::NotYetValid, Severity::Error);
const SELF_SIGNED: (FindingCode, Severity) = (FindingCode::SelfSigned, Severity::Warning);
const UNTRUSTED_ISSUER: (FindingCode, Severity) = (FindingCode::UntrustedIssuer, Severity::Warning);
const CHAIN_INCOMPLETE: (FindingCode, Severity) = (FindingCode::ChainIncomplete, Severity::Warning);
const CHAIN_ORDER: (FindingCode, Severity) = (FindingCode::ChainOrder, Severity::Warning);
const BAD_SIGNATURE: (FindingCode, Severity) = (FindingCode::BadSignature, Severity::Error);
const NAME_MISMATCH_UNTRUSTED: (FindingCode, Severity) =
    (FindingCode::NameMismatch, Severity::Warning);
const NAME_MISMATCH_TRUSTED: (FindingCode, Severity) = (FindingCode::NameMismatch, Severity::Error);
const EKU_NOT_SERVER_AUTH: (FindingCode, Severity) =
    (FindingCode::EkuNotServerAuth, Severity::Error);
const KEY_USAGE_MISSING: (FindingCode, Severity) = (FindingCode::KeyUsageMissing, Severity::Error);
const WEAK_KEY: (FindingCode, Severity) = (FindingCode::WeakKey, Severity::Error);

/// One table: each fixture's name, purpose, the name it is checked against, the findings it
/// must yield, and how it is generated; its checked-in files are compiled in from
/// `fixtures/NAME.crt` and `fixtures/NAME.key`.
macro_rules! fixtures {
    ($(
        $name:literal {
            purpose: $purpose:expr,
            server_name: $server_name:expr,
            findings: $findings:expr,
            build: |$ca:pat_param| $build:expr,
        }
    )*) => {
        /// The manifest, as data.
        pub static FIXTURES: &[Fixture] = &[$(
            fixture($name, $purpose, $server_name, $findings, Recipe {
                build: {
                    fn build($ca: &Authorities) -> io::Result<Built> {
                        $build
                    }
                    build
                },
                chain_pem: include_str!(concat!("../fixtures/", $name, ".crt")),
                key_pem: include_str!(concat!("../fixtures/", $name, ".key")),
            }),
        )*];
    };
}

fixtures! {
    "valid-self-signed" {
        purpose: "a self-signed certificate with the default names: the RDP default, warns only",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED],
        build: |_| self_signed(&default_leaf()?, ecdsa_key()?),
    }
    "expired" {
        purpose: "a self-signed certificate valid from 2020-01-01 to 2021-01-01",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[EXPIRED, SELF_SIGNED],
        build: |_| {
            let mut params = default_leaf()?;
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            self_signed(&params, ecdsa_key()?)
        },
    }
    "not-yet-valid" {
        purpose: "a self-signed certificate valid from 2099-01-01 to 9999-12-31",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[NOT_YET_VALID, SELF_SIGNED],
        build: |_| {
            let mut params = default_leaf()?;
            params.not_before = rcgen::date_time_ymd(2099, 1, 1);
            self_signed(&params, ecdsa_key()?)
        },
    }
    "wrong-name" {
        purpose: "a self-signed certificate naming only DNS:wrong.example: the mismatch only warns",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED, NAME_MISMATCH_UNTRUSTED],
        build: |_| self_signed(
            &leaf_params("wrong.example", &["wrong.example"])?,
            ecdsa_key()?,
        ),
    }
    "ip-san-only" {
        purpose: "a self-signed certificate whose only subject alternative name is IP:127.0.0.1",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED],
        build: |_| self_signed(&leaf_params("127.0.0.1", &["127.0.0.1"])?, ecdsa_key()?),
    }
    "client-auth-eku" {
        purpose: "a self-signed certificate whose extended key usage is clientAuth only",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED, EKU_NOT_SERVER_AUTH],
        build: |_| {
            let mut params = default_leaf()?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            self_signed(&params, ecdsa_key()?)
        },
    }
    "rdp-auth-eku" {
        purpose: "a self-signed certificate whose extended key usage is only Remote Desktop Authentication (1.3.6.1.4.1.311.54.1.2), which RDP accepts",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED],
        build: |_| {
            let mut params = default_leaf()?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(vec![
                1, 3, 6, 1, 4, 1, 311, 54, 1, 2,
            ])];
            self_signed(&params, ecdsa_key()?)
        },
    }
    "no-eku" {
        purpose: "a self-signed certificate without an extended key usage extension (any usage)",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED],
        build: |_| {
            let mut params = default_leaf()?;
            params.extended_key_usages = Vec::new();
            self_signed(&params, ecdsa_key()?)
        },
    }
    "weak-rsa-1024" {
        purpose: "a self-signed certificate with a 1024-bit RSA key (sha256WithRSAEncryption)",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED, WEAK_KEY],
        build: |_| self_signed(&default_leaf()?, RsaKey::generate(1024)?),
    }
    "key-usage-cert-sign-only" {
        purpose: "a self-signed non-CA certificate whose key usage is keyCertSign only",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[SELF_SIGNED, KEY_USAGE_MISSING],
        build: |_| {
            let mut params = default_leaf()?;
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
            self_signed(&params, ecdsa_key()?)
        },
    }
    "windows-self-signed" {
        purpose: "like the certificate Windows generates for RDP: RSA 2048, CN=rdp-host.rdp.test and no subject alternative names, key usage keyEncipherment and dataEncipherment, EKU serverAuth",
        server_name: "rdp-host.rdp.test",
        findings: &[SELF_SIGNED],
        build: |_| {
            let mut params = leaf_params("rdp-host.rdp.test", &[])?;
            params.key_usages = vec![
                KeyUsagePurpose::KeyEncipherment,
                KeyUsagePurpose::DataEncipherment,
            ];
            self_signed(&params, RsaKey::generate(2048)?)
        },
    }
    "ca-signed" {
        purpose: "a leaf signed by the test CA with the default names: no findings",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[],
        build: |ca| signed(default_leaf()?, ecdsa_key()?, &ca.root, &[]),
    }
    "ca-signed-expired" {
        purpose: "a leaf signed by the test CA, valid from 2020-01-01 to 2021-01-01",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[EXPIRED],
        build: |ca| {
            let mut params = default_leaf()?;
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            signed(params, ecdsa_key()?, &ca.root, &[])
        },
    }
    "ca-signed-wrong-name" {
        purpose: "a leaf signed by the test CA naming only DNS:wrong.example: on a trusted certificate the mismatch is an error",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[NAME_MISMATCH_TRUSTED],
        build: |ca| signed(
            leaf_params("wrong.example", &["wrong.example"])?,
            ecdsa_key()?,
            &ca.root,
            &[],
        ),
    }
    "ca-signed-bad-signature" {
        purpose: "a leaf signed by the test CA whose signature was altered afterwards",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[BAD_SIGNATURE],
        build: |ca| {
            let mut built = signed(default_leaf()?, ecdsa_key()?, &ca.root, &[])?;
            // The certificate ends with the signature value: alter its last byte.
            if let Some(last) = built.chain[0].last_mut() {
                *last ^= 0x01;
            }
            Ok(built)
        },
    }
    "intermediate-chain" {
        purpose: "leaf <- rdpscope Test Intermediate CA <- test CA, served as leaf and intermediate",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[],
        build: |ca| signed(
            default_leaf()?,
            ecdsa_key()?,
            &ca.intermediate,
            &[&ca.intermediate],
        ),
    }
    "intermediate-missing" {
        purpose: "the same kind of leaf served without its intermediate; its Authority Information Access names http://pki.rdp.test/intermediate.crt",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[CHAIN_INCOMPLETE],
        build: |ca| {
            let mut params = default_leaf()?;
            params.custom_extensions.push(authority_info_access(
                "http://pki.rdp.test/intermediate.crt",
            ));
            signed(params, ecdsa_key()?, &ca.intermediate, &[])
        },
    }
    "untrusted-ca" {
        purpose: "a leaf signed by rdpscope Untrusted CA, which no one trusts, served alone without Authority Information Access",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[UNTRUSTED_ISSUER],
        build: |ca| signed(default_leaf()?, ecdsa_key()?, &ca.untrusted, &[]),
    }
    "chain-wrong-order" {
        purpose: "leaf <- Intermediate CA 2 <- Intermediate CA 1 <- test CA, served as leaf, intermediate 1, intermediate 2",
        server_name: DEFAULT_SERVER_NAME,
        findings: &[CHAIN_ORDER],
        build: |ca| signed(
            default_leaf()?,
            ecdsa_key()?,
            &ca.intermediate2,
            &[&ca.intermediate1, &ca.intermediate2],
        ),
    }
    "wildcard" {
        purpose: "a leaf signed by the test CA naming only DNS:*.rdp.test, checked as host.rdp.test",
        server_name: "host.rdp.test",
        findings: &[],
        build: |ca| signed(
            leaf_params("*.rdp.test", &["*.rdp.test"])?,
            ecdsa_key()?,
            &ca.root,
            &[],
        ),
    }
}

/// Writes every fixture (`NAME.crt`, `NAME.key`), [`TEST_CA_FILE`] and [`MANIFEST_FILE`]
/// into `dir`, creating it if needed and overwriting files of the same names.
///
/// Keys are generated afresh: two runs write the same set of files, not the same bytes.
pub fn generate(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let authorities = Authorities::new()?;
    std::fs::write(
        dir.join(TEST_CA_FILE),
        pem("CERTIFICATE", authorities.root.der())?,
    )?;
    for fixture in FIXTURES {
        let built = (fixture.recipe.build)(&authorities)?;
        let mut chain = String::new();
        for der in &built.chain {
            chain.push_str(&pem("CERTIFICATE", der)?);
        }
        std::fs::write(dir.join(fixture.cert_file()), chain)?;
        std::fs::write(dir.join(fixture.key_file()), built.key_pem)?;
    }
    std::fs::write(dir.join(MANIFEST_FILE), manifest())
}

/// Reads fixture `name` from `dir`: its DER chain (leaf first, as served) and its leaf's
/// PKCS#8 DER private key.
pub fn read_chain(dir: &Path, name: &str) -> io::Result<ChainAndKey> {
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    let context = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("{} / {}: {e}", cert_path.display(), key_path.display()),
        )
    };
    parse_chain(
        &std::fs::read(&cert_path).map_err(context)?,
        &std::fs::read(&key_path).map_err(context)?,
    )
    .map_err(context)
}

/// A DER certificate chain (leaf first) and the leaf's PKCS#8 DER private key.
pub type ChainAndKey = (Vec<Vec<u8>>, Vec<u8>);

/// Parses a PEM certificate chain (leaf first) and a PEM PKCS#8 private key into DER.
pub fn parse_chain(chain_pem: &[u8], key_pem: &[u8]) -> io::Result<ChainAndKey> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

    let invalid =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .map(|cert| cert.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    if chain.is_empty() {
        return Err(invalid(&"no PEM certificate found"));
    }
    let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem).map_err(|e| invalid(&e))?;
    Ok((chain, key.secret_pkcs8_der().to_vec()))
}

/// The checked-in fixture `name` (as compiled into the binary): its DER chain and key.
pub fn embedded(name: &str) -> Option<io::Result<ChainAndKey>> {
    FIXTURES
        .iter()
        .find(|f| f.name == name)
        .map(|f| parse_chain(f.recipe.chain_pem.as_bytes(), f.recipe.key_pem.as_bytes()))
}

/// The checked-in test CA (as compiled into the binary), DER.
pub fn embedded_test_ca() -> io::Result<Vec<u8>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    CertificateDer::from_pem_slice(EMBEDDED_TEST_CA.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

const EMBEDDED_TEST_CA: &str = include_str!("../fixtures/test-ca.crt");

/// The manifest in TOML, one `[[fixture]]` table per fixture.
fn manifest() -> String {
    let mut out = String::new();
    out.push_str(
        "# rdpscope certificate fixtures, written by `rdpscope fixtures generate DIR`.\n\
         # The findings assume a probe of 127.0.0.1 (or server_name), trusting the system roots\n\
         # plus test-ca.crt, at any date between 2021 and 2099.\n\
         # default fails iff any error; strict fails iff any warning or error; warn never fails.\n\n",
    );
    let _ = writeln!(out, "trust_anchor = {}", toml_string(TEST_CA_FILE));
    for f in FIXTURES {
        let findings: Vec<String> = f
            .findings
            .iter()
            .map(|(code, severity)| toml_string(&format!("{code}:{}", severity.name())))
            .collect();
        let _ = write!(
            out,
            "\n[[fixture]]\n\
             name = {}\n\
             files = [{}, {}]\n\
             purpose = {}\n\
             server_name = {}\n\
             findings = [{}]\n\
             default = {}\n\
             strict = {}\n\
             warn = {}\n",
            toml_string(f.name),
            toml_string(&f.cert_file()),
            toml_string(&f.key_file()),
            toml_string(f.purpose),
            toml_string(f.server_name),
            findings.join(", "),
            toml_string(f.default.name()),
            toml_string(f.strict.name()),
            toml_string(f.warn.name()),
        );
    }
    out
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn pem(label: &str, der: &[u8]) -> io::Result<String> {
    rsa::pkcs8::der::pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| io::Error::other(format!("pem encoding failed: {e}")))
}

fn rcgen_error(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("certificate generation failed: {e}"))
}

/// An RSA key for rcgen, which (with ring) can neither generate RSA keys nor sign with
/// keys under 2048 bits. Signs with PKCS#1 v1.5 and SHA-256.
struct RsaKey {
    private: rsa::RsaPrivateKey,
    /// PKCS#1 RSAPublicKey DER: the SPKI's subjectPublicKey.
    public_der: Vec<u8>,
}

impl RsaKey {
    fn generate(bits: usize) -> io::Result<Self> {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
            .map_err(|e| io::Error::other(format!("rsa key generation failed: {e}")))?;
        let public_der = private
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| io::Error::other(format!("rsa key encoding failed: {e}")))?
            .into_vec();
        Ok(Self {
            private,
            public_der,
        })
    }
}

impl PublicKeyData for RsaKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_der
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl SigningKey for RsaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(self.private.clone());
        signer
            .try_sign(msg)
            .map(|signature| signature.to_vec())
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// A leaf key that can be written as PKCS#8 PEM.
trait LeafKey: SigningKey {
    fn pkcs8_pem(&self) -> io::Result<String>;
}

impl LeafKey for KeyPair {
    fn pkcs8_pem(&self) -> io::Result<String> {
        Ok(self.serialize_pem())
    }
}

impl LeafKey for RsaKey {
    fn pkcs8_pem(&self) -> io::Result<String> {
        use rsa::pkcs8::EncodePrivateKey as _;
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| io::Error::other(format!("rsa key encoding failed: {e}")))
    }
}

/// A generated fixture: the DER chain as served and the leaf key.
struct Built {
    chain: Vec<Vec<u8>>,
    key_pem: String,
}

type Ca = CertifiedIssuer<'static, KeyPair>;

/// The certification authorities the fixtures are signed by.
struct Authorities {
    root: Ca,
    intermediate: Ca,
    intermediate1: Ca,
    intermediate2: Ca,
    untrusted: Ca,
}

impl Authorities {
    fn new() -> io::Result<Self> {
        let new_key = || KeyPair::generate().map_err(rcgen_error);
        let root = CertifiedIssuer::self_signed(ca_params("rdpscope Test Root CA"), new_key()?)
            .map_err(rcgen_error)?;
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("rdpscope Test Intermediate CA"),
            new_key()?,
            &root,
        )
        .map_err(rcgen_error)?;
        let intermediate1 = CertifiedIssuer::signed_by(
            ca_params("rdpscope Test Intermediate CA 1"),
            new_key()?,
            &root,
        )
        .map_err(rcgen_error)?;
        let intermediate2 = CertifiedIssuer::signed_by(
            ca_params("rdpscope Test Intermediate CA 2"),
            new_key()?,
            &intermediate1,
        )
        .map_err(rcgen_error)?;
        let untrusted =
            CertifiedIssuer::self_signed(ca_params("rdpscope Untrusted CA"), new_key()?)
                .map_err(rcgen_error)?;
        Ok(Self {
            root,
            intermediate,
            intermediate1,
            intermediate2,
            untrusted,
        })
    }
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "rdpscope");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(9999, 12, 31);
    params.use_authority_key_identifier_extension = true;
    params
}

const DEFAULT_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// A leaf with the defaults: CN=`common_name`, the given subject alternative names (DNS
/// names or IP addresses), valid 2000-01-01 to 9999-12-31, EKU serverAuth, key usage
/// digitalSignature and keyEncipherment.
fn leaf_params(common_name: &str, names: &[&str]) -> io::Result<CertificateParams> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).map_err(rcgen_error)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(9999, 12, 31);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    Ok(params)
}

fn default_leaf() -> io::Result<CertificateParams> {
    leaf_params("localhost", DEFAULT_NAMES)
}

fn self_signed(params: &CertificateParams, key: impl LeafKey) -> io::Result<Built> {
    let cert = params.self_signed(&key).map_err(rcgen_error)?;
    Ok(Built {
        chain: vec![cert.der().to_vec()],
        key_pem: key.pkcs8_pem()?,
    })
}

/// A leaf signed by `issuer`, served followed by `intermediates`.
fn signed(
    mut params: CertificateParams,
    key: impl LeafKey,
    issuer: &Ca,
    intermediates: &[&Ca],
) -> io::Result<Built> {
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).map_err(rcgen_error)?;
    let mut chain = vec![cert.der().to_vec()];
    chain.extend(intermediates.iter().map(|ca| ca.der().to_vec()));
    Ok(Built {
        chain,
        key_pem: key.pkcs8_pem()?,
    })
}

/// An Authority Information Access extension with one caIssuers URI.
fn authority_info_access(ca_issuers_uri: &str) -> CustomExtension {
    // id-ad-caIssuers 1.3.6.1.5.5.7.48.2
    let ca_issuers_oid = der_tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02]);
    // GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String
    let location = der_tlv(0x86, ca_issuers_uri.as_bytes());
    let access_description = der_tlv(0x30, &[ca_issuers_oid, location].concat());
    let syntax = der_tlv(0x30, &access_description);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], syntax)
}

fn ecdsa_key() -> io::Result<KeyPair> {
    KeyPair::generate().map_err(rcgen_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_fixture_parses() {
        // The embedded copies come from the same table as the manifest (`fixtures!`).
        for fixture in FIXTURES {
            let (chain, key) = embedded(fixture.name).expect("embedded").expect("parses");
            assert!(!chain.is_empty() && !key.is_empty(), "{}", fixture.name);
        }
        assert!(embedded_test_ca().is_ok());
    }

    #[test]
    fn names_are_unique_and_stage_results_follow_the_rules() {
        let mut names: Vec<&str> = FIXTURES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIXTURES.len());
        for f in FIXTURES {
            let errors = f.findings.iter().any(|(_, s)| *s == Severity::Error);
            let warnings = f.findings.iter().any(|(_, s)| *s == Severity::Warning);
            assert_eq!(f.default == StageResult::Fail, errors, "{}", f.name);
            assert_eq!(
                f.strict == StageResult::Fail,
                errors || warnings,
                "{}",
                f.name
            );
            assert_eq!(f.warn, StageResult::Pass, "{}", f.name);
        }
    }

    #[test]
    fn authority_info_access_is_parsed_by_x509_parser() {
        use x509_parser::prelude::{FromDer as _, ParsedExtension, X509Certificate};
        let mut params = default_leaf().expect("params");
        params.custom_extensions.push(authority_info_access(
            "http://pki.rdp.test/intermediate.crt",
        ));
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let (_, parsed) = X509Certificate::from_der(cert.der()).expect("parses");
        let aia = parsed
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityInfoAccess(aia) => Some(aia),
                _ => None,
            })
            .expect("an AIA extension");
        assert_eq!(aia.accessdescs.len(), 1);
        assert_eq!(
            aia.accessdescs[0].access_method.to_id_string(),
            "1.3.6.1.5.5.7.48.2"
        );
        assert!(matches!(
            aia.accessdescs[0].access_location,
            x509_parser::extensions::GeneralName::URI("http://pki.rdp.test/intermediate.crt")
        ));
    }
}
