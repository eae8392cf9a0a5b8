//! Server certificate analysis: every finding, not only the first, and the policy verdict.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::ServerCertVerifier as _;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};
use serde::Serialize;
use sha1::Digest as _;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use crate::report::{CertificateInfo, Finding, Severity};

/// How certificate findings decide the certificate stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertPolicy {
    /// Any error or warning fails the stage.
    Strict,
    /// Errors fail the stage; self-signed and untrusted issuers are warnings (as mstsc only warns).
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

    /// Whether the findings fail the certificate stage under this policy.
    pub fn fails(self, findings: &[Finding]) -> bool {
        match self {
            CertPolicy::Strict => findings.iter().any(|f| f.severity >= Severity::Warning),
            CertPolicy::Default => findings.iter().any(|f| f.severity == Severity::Error),
            CertPolicy::Warn | CertPolicy::Ignore => false,
        }
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

/// The trust anchors: the system roots plus any `--ca-file` certificates.
#[derive(Debug, Clone)]
pub struct TrustStore {
    roots: Arc<RootCertStore>,
}

impl TrustStore {
    /// The system roots (loaded once per process) plus `extra` PEM-decoded CA certificates.
    pub fn with_extra(extra: &[CertificateDer<'static>]) -> Self {
        let mut roots = system_roots().as_ref().clone();
        for cert in extra {
            // A CA file certificate that webpki cannot use as an anchor is skipped; the
            // analysis then reports the issuer as untrusted, which is the honest outcome.
            let _ = roots.add(cert.clone());
        }
        Self {
            roots: Arc::new(roots),
        }
    }

    /// The system roots only (loaded from the OS store once per process; call it early on
    /// another thread to take the load off the certificate stage).
    pub fn system() -> Self {
        Self {
            roots: system_roots(),
        }
    }
}

fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let loaded = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(loaded.certs);
            Arc::new(roots)
        })
        .clone()
}

/// Reads PEM certificates from a file (for `--ca-file`).
pub fn read_pem_certificates(
    path: &std::path::Path,
) -> std::io::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject as _;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    if certs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no PEM certificate found",
        ));
    }
    Ok(certs)
}

fn finding(severity: Severity, code: &str, message: String) -> Finding {
    Finding {
        severity,
        code: code.to_owned(),
        message,
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// Analyses the chain the server presented (leaf first) and returns the facts and every finding.
///
/// `server_name` is the host that was probed; `now` is the time to judge validity against.
pub fn analyze(
    chain: &[CertificateDer<'_>],
    server_name: &str,
    trust: &TrustStore,
    policy: CertPolicy,
    now: time::OffsetDateTime,
) -> CertificateInfo {
    let Some(leaf_der) = chain.first() else {
        return CertificateInfo {
            subject: String::new(),
            issuer: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            serial: String::new(),
            sha1: String::new(),
            sha256: String::new(),
            subject_alt_names: Vec::new(),
            chain_length: 0,
            policy: policy.name().to_owned(),
            findings: vec![finding(
                Severity::Error,
                "no_certificate",
                "the server presented no certificate".to_owned(),
            )],
        };
    };
    let sha1 = hex_upper(&sha1::Sha1::digest(leaf_der.as_ref()));
    let sha256 = hex_upper(&sha2::Sha256::digest(leaf_der.as_ref()));
    let mut info = CertificateInfo {
        subject: String::new(),
        issuer: String::new(),
        not_before: String::new(),
        not_after: String::new(),
        serial: String::new(),
        sha1,
        sha256,
        subject_alt_names: Vec::new(),
        chain_length: chain.len(),
        policy: policy.name().to_owned(),
        findings: Vec::new(),
    };

    let leaf = match X509Certificate::from_der(leaf_der.as_ref()) {
        Ok((_, leaf)) => leaf,
        Err(e) => {
            info.findings.push(finding(
                Severity::Error,
                "unparsable",
                format!("the server certificate cannot be parsed: {e}"),
            ));
            return info;
        }
    };
    info.subject = leaf.subject().to_string();
    info.issuer = leaf.issuer().to_string();
    info.serial = leaf.raw_serial_as_string().replace(':', "").to_uppercase();
    let not_before = leaf.validity().not_before.to_datetime();
    let not_after = leaf.validity().not_after.to_datetime();
    info.not_before = rfc3339(not_before);
    info.not_after = rfc3339(not_after);
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => info.subject_alt_names.push(format!("DNS:{dns}")),
                GeneralName::IPAddress(ip) => {
                    info.subject_alt_names.push(format!("IP:{}", format_ip(ip)))
                }
                _ => {}
            }
        }
    }

    if now > not_after {
        let days = (now - not_after).whole_days();
        info.findings.push(finding(
            Severity::Error,
            "expired",
            format!(
                "the certificate expired on {} ({days} days ago)",
                date(not_after)
            ),
        ));
    }
    if now < not_before {
        info.findings.push(finding(
            Severity::Error,
            "not_yet_valid",
            format!("the certificate is not valid until {}", date(not_before)),
        ));
    }

    let self_signed = leaf.subject() == leaf.issuer();
    let trust_finding = trust_finding(
        chain,
        server_name,
        trust,
        judge_at(now, not_before, not_after),
        self_signed,
    );
    let trusted_anchor = matches!(&trust_finding, Some(f) if f.code == "self_signed_trusted");
    if self_signed && !trusted_anchor {
        info.findings.push(finding(
            Severity::Warning,
            "self_signed",
            "the certificate is self-signed (the RDP default); clients cannot verify the server's identity".to_owned(),
        ));
    }

    info.findings.extend(trust_finding);

    info.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    info
}

/// A moment inside the leaf's validity at which to judge the chain, so that an expiry does
/// not hide an untrusted issuer (webpki reports only its first problem).
fn judge_at(
    now: time::OffsetDateTime,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> time::OffsetDateTime {
    if now >= not_before && now <= not_after {
        now
    } else {
        not_before + time::Duration::seconds(1)
    }
}

fn trust_finding(
    chain: &[CertificateDer<'_>],
    server_name: &str,
    trust: &TrustStore,
    at: time::OffsetDateTime,
    self_signed: bool,
) -> Option<Finding> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), provider)
        .build()
        .ok()?;
    let name = ServerName::try_from(server_name.to_owned()).ok()?;
    let seconds = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    let result = verifier.verify_server_cert(
        &chain[0],
        &chain[1..],
        &name,
        &[],
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)),
    );
    match result {
        Ok(_) if self_signed => Some(finding(
            Severity::Info,
            "self_signed_trusted",
            "the self-signed certificate is itself a trusted anchor (system roots or --ca-file)".to_owned(),
        )),
        Ok(_) => None,
        // A self-signed leaf has no issuer to trust; the self_signed finding says it all.
        Err(_) if self_signed => None,
        Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => Some(finding(
            Severity::Warning,
            "untrusted_issuer",
            "the certificate's issuer is not a trusted certification authority (system roots and --ca-file)"
                .to_owned(),
        )),
        // Name checks are analysed separately; other webpki verdicts are reported as found.
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => None,
        Err(rustls::Error::InvalidCertificate(CertificateError::BadSignature)) => Some(finding(
            Severity::Error,
            "bad_signature",
            "a signature in the certificate chain does not verify".to_owned(),
        )),
        Err(e) => Some(finding(
            Severity::Warning,
            "chain_invalid",
            format!("the certificate chain does not verify: {e}"),
        )),
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn date(t: time::OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        _ => hex::encode(bytes),
    }
}
