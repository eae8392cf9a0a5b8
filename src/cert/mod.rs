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

    let trusted = (!self_signed && trust_finding.is_none()) || trusted_anchor;
    info.findings.extend(trust_finding);
    info.findings
        .extend(name_finding(&leaf, server_name, trusted));

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
        not_before
            .checked_add(time::Duration::seconds(1))
            .unwrap_or(not_before)
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
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), provider).build()
    else {
        // No trust anchors at all (no system roots, no --ca-file): nothing can be trusted.
        return (!self_signed).then(|| {
            finding(
                Severity::Warning,
                "untrusted_issuer",
                "no trusted certification authorities are available (no system roots, no --ca-file)".to_owned(),
            )
        });
    };
    // Names are checked by `name_finding`; webpki only needs some valid name here.
    let name = ServerName::try_from(server_name.to_owned())
        .unwrap_or_else(|_| ServerName::try_from("name.invalid").expect("a valid DNS name"));
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
        // Names are checked by `name_finding`; other webpki verdicts are reported as found.
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

/// Checks the probed name against the DNS and IP subject alternative names (or the CN when
/// there are none), with RFC 6125 wildcards in the leftmost label only.
///
/// A mismatch on a trusted certificate is an error: the name is all that ties a trusted
/// certificate to this server. On a self-signed or untrusted one it is a warning, as mstsc
/// shows it, because such a certificate proves nothing about any name.
fn name_finding(leaf: &X509Certificate<'_>, server_name: &str, trusted: bool) -> Option<Finding> {
    let wanted_ip: Option<std::net::IpAddr> = server_name.trim_matches(['[', ']']).parse().ok();
    let mut dns_names = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                GeneralName::IPAddress(ip) => ips.push(format_ip(ip)),
                _ => {}
            }
        }
    }
    let has_san = !(dns_names.is_empty() && ips.is_empty());
    let candidates: Vec<String> = if has_san {
        dns_names.clone()
    } else {
        leaf.subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect()
    };
    let matches = match wanted_ip {
        Some(ip) => ips
            .iter()
            .any(|candidate| candidate.parse::<std::net::IpAddr>().ok() == Some(ip)),
        None => candidates
            .iter()
            .any(|candidate| dns_name_matches(candidate, server_name)),
    };
    if matches {
        return None;
    }
    let mut presented: Vec<String> = candidates.iter().map(|n| format!("DNS:{n}")).collect();
    presented.extend(ips.iter().map(|ip| format!("IP:{ip}")));
    let presented = if presented.is_empty() {
        "no names".to_owned()
    } else {
        presented.join(", ")
    };
    Some(finding(
        if trusted {
            Severity::Error
        } else {
            Severity::Warning
        },
        "name_mismatch",
        format!("the certificate is not valid for `{server_name}` (it names {presented})"),
    ))
}

/// RFC 6125 matching of a presented DNS name (possibly `*.` wildcard) against a host name.
fn dns_name_matches(presented: &str, host: &str) -> bool {
    let presented = presented.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match presented.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(label, rest)| {
            !label.is_empty() && rest == suffix && suffix.contains('.')
        }),
        None => presented == host,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_leftmost_label() {
        assert!(dns_name_matches("rdp.example.com", "RDP.example.com."));
        assert!(dns_name_matches("*.example.com", "rdp.example.com"));
        assert!(!dns_name_matches("*.example.com", "a.rdp.example.com"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("*.com", "example.com"));
        assert!(!dns_name_matches("rdp.example.com", "rdp2.example.com"));
    }

    fn self_signed(names: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("params");
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().expect("key");
        params
            .self_signed(&key)
            .expect("certificate")
            .der()
            .to_vec()
    }

    fn codes(der: Vec<u8>, name: &str) -> Vec<String> {
        let info = analyze(
            &[CertificateDer::from(der)],
            name,
            &TrustStore::system(),
            CertPolicy::Default,
            time::OffsetDateTime::now_utc(),
        );
        info.findings.into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn reports_every_finding_of_an_expired_self_signed_wrong_name_certificate() {
        let der = self_signed(&["other.example"], (2020, 1, 1), (2021, 1, 1));
        assert_eq!(
            codes(der, "rdp.example"),
            ["expired", "self_signed", "name_mismatch"]
        );
    }

    #[test]
    fn ip_targets_match_ip_sans_only() {
        let der = self_signed(&["127.0.0.1", "localhost"], (2000, 1, 1), (9999, 12, 31));
        assert_eq!(codes(der.clone(), "127.0.0.1"), ["self_signed"]);
        assert_eq!(codes(der, "10.0.0.1"), ["self_signed", "name_mismatch"]);
    }

    #[test]
    fn extreme_validity_dates_do_not_panic() {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let last_second = time::Time::from_hms(23, 59, 59).expect("time");
        params.not_before = rcgen::date_time_ymd(9999, 12, 31).replace_time(last_second);
        params.not_after = params.not_before;
        let key = rcgen::KeyPair::generate().expect("key");
        let der = params
            .self_signed(&key)
            .expect("certificate")
            .der()
            .to_vec();
        assert!(codes(der, "localhost").contains(&"not_yet_valid".to_owned()));
    }

    #[test]
    fn name_mismatch_on_a_self_signed_certificate_is_a_warning_and_fails_strict_only() {
        let der = self_signed(&["other.example"], (2000, 1, 1), (9999, 12, 31));
        let info = analyze(
            &[CertificateDer::from(der)],
            "rdp.example",
            &TrustStore::system(),
            CertPolicy::Default,
            time::OffsetDateTime::now_utc(),
        );
        assert!(!CertPolicy::Default.fails(&info.findings));
        assert!(CertPolicy::Strict.fails(&info.findings));
    }
}
