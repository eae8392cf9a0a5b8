//! Server certificate analysis: every finding about the presented chain, not only the first
//! one a TLS library would report, and the verdict of the certificate policy.

pub(crate) mod cache;
mod chain;
mod code;
pub mod known_hosts;
mod leaf;

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use serde::Serialize;
use sha1::Digest as _;
use x509_parser::prelude::{FromDer as _, X509Certificate};

pub use code::FindingCode;

use crate::report::{CertificateInfo, ChainCertificate, Finding, Severity};

/// How certificate findings decide the certificate stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertPolicy {
    /// Any error or warning fails the stage.
    Strict,
    /// Errors fail the stage; self-signed, untrusted issuers and near expiry only warn (as
    /// mstsc only warns).
    #[default]
    Default,
    /// Nothing fails; every finding is reported.
    Warn,
    /// The certificate is not analysed.
    Ignore,
}

impl CertPolicy {
    /// The stable name of the policy.
    pub fn name(self) -> &'static str {
        match self {
            CertPolicy::Strict => "strict",
            CertPolicy::Default => "default",
            CertPolicy::Warn => "warn",
            CertPolicy::Ignore => "ignore",
        }
    }

    /// Whether a finding of this severity fails the certificate stage under this policy:
    /// the one rule every verdict on findings follows (the probe's certificate stage, the
    /// fixtures' expected results, the decisive finding of a failure).
    pub const fn decides(self, severity: Severity) -> bool {
        match self {
            CertPolicy::Strict => !matches!(severity, Severity::Info),
            CertPolicy::Default => matches!(severity, Severity::Error),
            CertPolicy::Warn | CertPolicy::Ignore => false,
        }
    }

    /// Whether the findings fail the certificate stage under this policy.
    pub fn fails(self, findings: &[Finding]) -> bool {
        findings.iter().any(|f| self.decides(f.severity))
    }
}

impl std::str::FromStr for CertPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(CertPolicy::Strict),
            "default" => Ok(CertPolicy::Default),
            "warn" => Ok(CertPolicy::Warn),
            "ignore" => Ok(CertPolicy::Ignore),
            other => Err(format!(
                "unknown certificate policy `{other}` (expected strict, default, warn or ignore)"
            )),
        }
    }
}

/// A pinned leaf certificate: `sha256:HEX` or `sha1:HEX` (colons and case ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// SHA-256 fingerprint of the leaf.
    Sha256([u8; 32]),
    /// SHA-1 thumbprint of the leaf (as certlm.msc shows it).
    Sha1([u8; 20]),
}

impl Pin {
    /// Whether the DER leaf matches the pin.
    pub fn matches(&self, leaf_der: &[u8]) -> bool {
        match self {
            Pin::Sha256(want) => sha2::Sha256::digest(leaf_der).as_slice() == want,
            Pin::Sha1(want) => sha1::Sha1::digest(leaf_der).as_slice() == want,
        }
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pin::Sha256(h) => write!(f, "sha256:{}", hex::encode_upper(h)),
            Pin::Sha1(h) => write!(f, "sha1:{}", hex::encode_upper(h)),
        }
    }
}

impl std::str::FromStr for Pin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("invalid pin `{s}`: expected sha256:HEX (64 digits) or sha1:HEX (40 digits)")
        };
        let (kind, digits) = s.split_once(':').ok_or_else(bad)?;
        let digits: String = digits
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        let bytes = hex::decode(digits).map_err(|_| bad())?;
        match kind.to_ascii_lowercase().as_str() {
            "sha256" => bytes.try_into().map(Pin::Sha256).map_err(|_| bad()),
            "sha1" => bytes.try_into().map(Pin::Sha1).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// The system trust store, loaded once.
static SYSTEM: OnceLock<TrustStore> = OnceLock::new();

/// A trust anchor as the chain analysis needs it.
#[derive(Debug)]
pub(crate) struct Anchor {
    /// Raw DER of the subject Name.
    pub(crate) subject: Vec<u8>,
    /// Raw DER of the SubjectPublicKeyInfo.
    pub(crate) spki: Vec<u8>,
    /// The whole certificate.
    pub(crate) der: CertificateDer<'static>,
}

/// The trust anchors: the system roots plus any `--ca-file` certificates.
#[derive(Debug, Clone)]
pub struct TrustStore {
    anchors: Arc<Vec<Anchor>>,
    /// False for [`TrustStore::unconsulted`]: trust is not evaluated at all.
    consulted: bool,
}

/// The one unconsulted store (one, so that the analysis cache recognises it).
static UNCONSULTED: OnceLock<TrustStore> = OnceLock::new();

impl TrustStore {
    /// The system roots (loaded once per process) plus `extra` CA certificates.
    pub fn with_extra(extra: &[CertificateDer<'static>]) -> Self {
        let system = Self::system();
        let mut anchors: Vec<Anchor> = Vec::with_capacity(system.anchors.len() + extra.len());
        anchors.extend(system.anchors.iter().map(|a| Anchor {
            subject: a.subject.clone(),
            spki: a.spki.clone(),
            der: a.der.clone(),
        }));
        anchors.extend(extra.iter().cloned().filter_map(anchor));
        Self {
            anchors: Arc::new(anchors),
            consulted: true,
        }
    }

    /// Whether the system roots have been loaded already.
    pub fn system_loaded() -> bool {
        SYSTEM.get().is_some()
    }

    /// The system roots only, loaded from the OS store once per process (call it early on
    /// another thread to take the load off the certificate stage).
    pub fn system() -> Self {
        SYSTEM
            .get_or_init(|| {
                let loaded = rustls_native_certs::load_native_certs().certs;
                TrustStore {
                    anchors: Arc::new(loaded.into_iter().filter_map(anchor).collect()),
                    consulted: true,
                }
            })
            .clone()
    }

    /// Whether both are the very same store (not merely equal anchors).
    pub(crate) fn same_as(&self, other: &TrustStore) -> bool {
        Arc::ptr_eq(&self.anchors, &other.anchors)
    }

    /// A store of exactly these anchors, without the system roots (for the fuzz targets).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn of(extra: &[CertificateDer<'static>]) -> Self {
        Self {
            anchors: Arc::new(extra.iter().cloned().filter_map(anchor).collect()),
            consulted: true,
        }
    }

    /// An empty store (nothing is trusted); for tests and for `--ca-file` only setups.
    pub fn empty() -> Self {
        Self {
            anchors: Arc::new(Vec::new()),
            consulted: true,
        }
    }

    /// No store at all: the analysis does not evaluate trust (what needs a trust anchor is
    /// left out and one `trust_not_evaluated` finding says so). For `--pin` without
    /// `--ca-file`, where the pin alone decides and loading the system roots would be
    /// start-up work for nothing.
    pub fn unconsulted() -> Self {
        UNCONSULTED
            .get_or_init(|| Self {
                anchors: Arc::new(Vec::new()),
                consulted: false,
            })
            .clone()
    }

    /// Whether trust is evaluated against this store (false for [`TrustStore::unconsulted`]).
    pub fn consulted(&self) -> bool {
        self.consulted
    }

    pub(crate) fn anchors_named<'a>(
        &'a self,
        subject: &'a [u8],
    ) -> impl Iterator<Item = &'a Anchor> + 'a {
        self.anchors.iter().filter(move |a| a.subject == subject)
    }

    /// Whether `cert` is a trust anchor: same subject and same public key.
    pub(crate) fn is_anchor(&self, cert: &X509Certificate<'_>) -> bool {
        let spki = cert.public_key().raw;
        self.anchors_named(cert.subject().as_raw())
            .any(|a| a.spki == spki)
    }
}

fn anchor(der: CertificateDer<'static>) -> Option<Anchor> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let subject = cert.subject().as_raw().to_vec();
    let spki = cert.public_key().raw.to_vec();
    Some(Anchor { subject, spki, der })
}

/// A DER tag-length-value: `tag`, the definite length of `content` (short form below 128,
/// else the long form), `content`. For the fixtures' extensions and the mock's SPNEGO tokens.
pub(crate) fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let length = content.len();
    let mut out = vec![tag];
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let digits: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|&digit| digit == 0)
            .collect();
        out.push(0x80 | digits.len() as u8);
        out.extend(digits);
    }
    out.extend_from_slice(content);
    out
}

/// Reads PEM certificates from a file (for `--ca-file`).
pub fn read_pem_certificates(
    path: &std::path::Path,
) -> std::io::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject as _;
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("no PEM certificate found".to_owned()));
    }
    // A trust anchor that cannot be read would be ignored silently: refuse the file instead.
    for (index, cert) in certs.iter().enumerate() {
        if let Err(e) = X509Certificate::from_der(cert.as_ref()) {
            return Err(invalid(format!(
                "certificate {} of {} is not valid X.509 ({e})",
                index + 1,
                certs.len()
            )));
        }
    }
    Ok(certs)
}

/// Everything the analysis needs besides the chain.
#[derive(Debug, Clone)]
pub struct AnalysisOptions<'a> {
    /// The name the certificate must be valid for (host probed or `--server-name`).
    pub server_name: &'a str,
    /// Trust anchors.
    pub trust: &'a TrustStore,
    /// The policy (recorded in the result; see [`CertPolicy::fails`]).
    pub policy: CertPolicy,
    /// The time to judge validity against.
    pub now: time::OffsetDateTime,
    /// Fewer days than this until expiry is an `expires_soon` warning.
    pub expiry_warning_days: i64,
    /// The pinned leaf, if any.
    pub pin: Option<&'a Pin>,
}

/// A finding; the message is [escaped](crate::text::escape), as it quotes certificate names.
pub(crate) fn finding(severity: Severity, code: FindingCode, message: String) -> Finding {
    Finding {
        severity,
        code,
        message: crate::text::escape_owned(message),
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// The findings that decide the certificate stage, most severe first: with a pin, the
/// `pin_mismatch` finding (a pin decides alone); otherwise those the policy
/// [decides](CertPolicy::decides) on. The stage fails exactly when this is not empty.
pub fn decisive(info: &CertificateInfo, policy: CertPolicy) -> Vec<&Finding> {
    info.findings
        .iter()
        .filter(|f| match info.pin_matched {
            Some(_) => f.code == FindingCode::PinMismatch,
            None => policy.decides(f.severity),
        })
        .collect()
}

/// Whether the certificate stage fails: some finding is [decisive].
pub fn stage_fails(info: &CertificateInfo, policy: CertPolicy) -> bool {
    !decisive(info, policy).is_empty()
}

/// Analyses the chain the server presented (leaf first) and returns the facts and every
/// finding, most severe first. Never panics on malformed certificates.
pub fn analyze(chain: &[CertificateDer<'_>], options: &AnalysisOptions<'_>) -> CertificateInfo {
    analyze_until(chain, options).0
}

/// The finding of a pin check: matched (info) or a changed certificate (error, naming both).
fn pin_finding(pin: &Pin, matched: bool, info: &CertificateInfo) -> Finding {
    if matched {
        finding(
            Severity::Info,
            FindingCode::PinMatched,
            format!("the certificate matches the pin {pin}"),
        )
    } else {
        finding(
            Severity::Error,
            FindingCode::PinMismatch,
            format!(
                "certificate changed: the server presented sha256:{} (sha1:{}), the pin is {pin}",
                info.sha256, info.sha1
            ),
        )
    }
}

/// Every certificate presented, in the server's order, as the report lists it (names
/// escaped; an unparsable one says so).
fn chain_entries(
    chain: &[CertificateDer<'_>],
    parsed: &[Option<X509Certificate<'_>>],
) -> Vec<ChainCertificate> {
    chain
        .iter()
        .zip(parsed)
        .map(|(der, cert)| {
            let sha1 = hex::encode_upper(sha1::Sha1::digest(der.as_ref()));
            match cert {
                Some(cert) => ChainCertificate {
                    subject: crate::text::escape_owned(cert.subject().to_string()),
                    issuer: crate::text::escape_owned(cert.issuer().to_string()),
                    not_after: rfc3339(cert.validity().not_after.to_datetime()),
                    sha1,
                },
                None => ChainCertificate {
                    subject: "(unparsable)".to_owned(),
                    issuer: String::new(),
                    not_after: String::new(),
                    sha1,
                },
            }
        })
        .collect()
}

/// [`analyze`], and the first instant after `options.now` at which the result could differ.
fn analyze_until(
    chain: &[CertificateDer<'_>],
    options: &AnalysisOptions<'_>,
) -> (CertificateInfo, time::OffsetDateTime) {
    let timeless = time::OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT);
    let mut info = CertificateInfo {
        chain_length: chain.len(),
        policy: options.policy.name().to_owned(),
        ..CertificateInfo::default()
    };
    let Some(leaf_der) = chain.first() else {
        info.findings.push(finding(
            Severity::Error,
            FindingCode::NoCertificate,
            "the server presented no certificate".to_owned(),
        ));
        return (info, timeless);
    };
    info.sha1 = hex::encode_upper(sha1::Sha1::digest(leaf_der.as_ref()));
    info.sha256 = hex::encode_upper(sha2::Sha256::digest(leaf_der.as_ref()));
    if let Some(pin) = options.pin {
        let matched = pin.matches(leaf_der.as_ref());
        info.pin_matched = Some(matched);
        info.findings.push(pin_finding(pin, matched, &info));
    }

    let parsed: Vec<Option<X509Certificate<'_>>> = chain
        .iter()
        .map(|der| {
            X509Certificate::from_der(der.as_ref())
                .ok()
                .map(|(_, cert)| cert)
        })
        .collect();
    info.chain = chain_entries(chain, &parsed);

    let Some(leaf) = &parsed[0] else {
        info.findings.push(finding(
            Severity::Error,
            FindingCode::Unparsable,
            "the server certificate cannot be parsed as X.509".to_owned(),
        ));
        return (info, timeless);
    };
    leaf::describe(leaf, &mut info, options.now);
    let mut trust = chain::analyze(
        &parsed,
        options.trust,
        options.now,
        options.expiry_warning_days,
    );
    if !options.trust.consulted() {
        // Whether an issuer is a trusted CA, or a missing one a root the client would
        // have: not known without a store, so not said.
        trust.findings.retain(|f| {
            !matches!(
                f.code,
                FindingCode::UntrustedIssuer | FindingCode::ChainIncomplete
            )
        });
        trust.findings.push(finding(
            Severity::Info,
            FindingCode::TrustNotEvaluated,
            "trust in the chain was not evaluated (no trust store loaded: the pin decides)"
                .to_owned(),
        ));
    }
    info.trusted = trust.trusted;
    info.findings.extend(trust.findings);
    info.findings
        .extend(leaf::check(leaf, options, info.trusted));
    // "Not trusted" always comes with its reason: should the chain analysis ever stop
    // without one, that is itself an error finding.
    if options.trust.consulted()
        && !info.trusted
        && info.findings.iter().all(|f| f.severity < Severity::Warning)
    {
        info.findings.push(finding(
            Severity::Error,
            FindingCode::ChainUnverified,
            "the chain could not be verified to a trust anchor, and the analysis found no reason: treat the certificate as unverified".to_owned(),
        ));
    }
    info.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let until = cache::stable_until(parsed.iter().flatten(), options.now);
    (info, until)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate (DER) for `names`, valid from `not_before` to `not_after`.
    pub(super) fn self_signed(
        names: &[&str],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("params");
        params.not_before = not_before;
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().expect("key");
        params
            .self_signed(&key)
            .expect("certificate")
            .der()
            .to_vec()
    }

    fn codes(der: Vec<u8>, name: &str) -> Vec<String> {
        let trust = TrustStore::empty();
        let options = AnalysisOptions {
            server_name: name,
            trust: &trust,
            policy: CertPolicy::Default,
            now: time::OffsetDateTime::now_utc(),
            expiry_warning_days: 30,
            pin: None,
        };
        let info = analyze(&[CertificateDer::from(der)], &options);
        info.findings
            .into_iter()
            .map(|f| f.code.name().to_owned())
            .collect()
    }

    /// Without a store, what only a store can tell (an untrusted issuer, a missing
    /// intermediate, "not trusted" without a reason) is not claimed, and one finding says
    /// that trust was not evaluated; with an empty store the same chain's issuer is untrusted.
    #[test]
    fn an_unconsulted_store_claims_nothing_about_trust() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ca-signed.crt");
        let chain = read_pem_certificates(&path).expect("fixture");
        let codes = |trust: &TrustStore| -> Vec<&'static str> {
            let options = AnalysisOptions {
                server_name: "localhost",
                trust,
                policy: CertPolicy::Default,
                now: time::OffsetDateTime::now_utc(),
                expiry_warning_days: 30,
                pin: None,
            };
            analyze(&chain[..1], &options)
                .findings
                .iter()
                .map(|f| f.code.name())
                .collect()
        };
        let empty = codes(&TrustStore::empty());
        assert!(empty.contains(&"untrusted_issuer"), "{empty:?}");
        assert!(!empty.contains(&"trust_not_evaluated"), "{empty:?}");
        let unconsulted = codes(&TrustStore::unconsulted());
        assert_eq!(unconsulted, ["trust_not_evaluated"]);
        assert!(!TrustStore::unconsulted().consulted() && TrustStore::empty().consulted());
    }

    fn ymd(year: i32, month: u8, day: u8) -> time::OffsetDateTime {
        rcgen::date_time_ymd(year, month, day)
    }

    #[test]
    fn reports_every_finding_of_an_expired_self_signed_wrong_name_certificate() {
        let der = self_signed(&["other.example"], ymd(2020, 1, 1), ymd(2021, 1, 1));
        assert_eq!(
            codes(der, "rdp.example"),
            ["expired", "self_signed", "name_mismatch"]
        );
    }

    #[test]
    fn ip_targets_match_ip_sans_only() {
        let der = self_signed(
            &["127.0.0.1", "localhost"],
            ymd(2000, 1, 1),
            ymd(9999, 12, 31),
        );
        assert_eq!(codes(der.clone(), "127.0.0.1"), ["self_signed"]);
        assert_eq!(codes(der, "10.0.0.1"), ["self_signed", "name_mismatch"]);
    }

    #[test]
    fn expiring_soon_is_a_warning() {
        let now = time::OffsetDateTime::now_utc();
        let der = self_signed(
            &["localhost"],
            now - time::Duration::days(1),
            now + time::Duration::days(10),
        );
        assert_eq!(codes(der, "localhost"), ["self_signed", "expires_soon"]);
    }

    #[test]
    fn extreme_validity_dates_do_not_panic() {
        let last_second =
            ymd(9999, 12, 31).replace_time(time::Time::from_hms(23, 59, 59).expect("time"));
        let der = self_signed(&["localhost"], last_second, last_second);
        assert!(codes(der, "localhost").contains(&"not_yet_valid".to_owned()));
    }

    #[test]
    fn garbage_is_unparsable_not_a_panic() {
        assert_eq!(
            codes(vec![0x30, 0x03, 0x02, 0x01, 0x00], "x"),
            ["unparsable"]
        );
        assert_eq!(codes(Vec::new(), "x"), ["unparsable"]);
    }

    #[test]
    fn pins_parse_and_match() {
        let der = b"not really a certificate";
        let sha256 = hex::encode(sha2::Sha256::digest(der));
        let pin: Pin = format!("sha256:{sha256}").parse().expect("pin");
        assert!(pin.matches(der));
        assert!(!pin.matches(b"other"));
        let sha1 = hex::encode_upper(sha1::Sha1::digest(der));
        let with_colons: String = sha1
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        assert!(format!("SHA1:{with_colons}")
            .parse::<Pin>()
            .expect("pin")
            .matches(der));
        for bad in ["sha256:abcd", "md5:00", "nohash", "sha1:zz"] {
            assert!(bad.parse::<Pin>().is_err(), "{bad}");
        }
    }
}
