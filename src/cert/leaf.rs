//! Facts and checks about the leaf certificate: validity, names, key usages.

use x509_parser::prelude::{GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::{finding, rfc3339, AnalysisOptions, FindingCode};
use crate::report::{CertificateInfo, Finding, Severity};

/// Remote Desktop Authentication (Microsoft), accepted by RDP clients instead of serverAuth.
const OID_RDP_AUTH: &str = "1.3.6.1.4.1.311.54.1.2";

/// Fills the descriptive fields of `info` from the leaf.
pub(super) fn describe(
    leaf: &X509Certificate<'_>,
    info: &mut CertificateInfo,
    now: time::OffsetDateTime,
) {
    info.subject = crate::text::escape_owned(leaf.subject().to_string());
    info.issuer = crate::text::escape_owned(leaf.issuer().to_string());
    info.serial = leaf.raw_serial_as_string().replace(':', "").to_uppercase();
    let not_before = leaf.validity().not_before.to_datetime();
    let not_after = leaf.validity().not_after.to_datetime();
    info.not_before = rfc3339(not_before);
    info.not_after = rfc3339(not_after);
    info.days_remaining = (not_after - now).whole_days();
    let (dns, ips) = san_names(leaf);
    info.subject_alt_names = dns
        .iter()
        .map(|d| format!("DNS:{}", crate::text::escape(d)))
        .chain(ips.iter().map(|ip| format!("IP:{ip}")))
        .collect();
    info.key = key_description(leaf);
    info.signature_algorithm =
        signature_name(leaf.signature_algorithm.algorithm.to_id_string().as_str());
    if let Ok(Some(eku)) = leaf.extended_key_usage() {
        let eku = eku.value;
        let named = [
            (eku.any, "anyExtendedKeyUsage"),
            (eku.server_auth, "serverAuth"),
            (eku.client_auth, "clientAuth"),
            (eku.code_signing, "codeSigning"),
            (eku.email_protection, "emailProtection"),
            (eku.time_stamping, "timeStamping"),
            (eku.ocsp_signing, "OCSPSigning"),
        ];
        info.extended_key_usage = named
            .iter()
            .filter(|(present, _)| *present)
            .map(|(_, name)| (*name).to_owned())
            .chain(
                eku.other
                    .iter()
                    .map(|oid| match oid.to_id_string().as_str() {
                        OID_RDP_AUTH => "remoteDesktopAuthentication".to_owned(),
                        other => other.to_owned(),
                    }),
            )
            .collect();
    }
}

/// The leaf's findings: validity, name, extended key usage and key usage.
pub(super) fn check(
    leaf: &X509Certificate<'_>,
    options: &AnalysisOptions<'_>,
    trusted: bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(validity(
        leaf,
        "the certificate",
        options.now,
        options.expiry_warning_days,
    ));
    findings.extend(name_finding(leaf, options.server_name, trusted));
    findings.extend(eku_finding(leaf));
    findings.extend(key_usage_finding(leaf));
    findings
}

/// Validity findings for `what` (the leaf, or an intermediate named in `what`).
pub(super) fn validity(
    cert: &X509Certificate<'_>,
    what: &str,
    now: time::OffsetDateTime,
    expiry_warning_days: i64,
) -> Vec<Finding> {
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let mut findings = Vec::new();
    if now > not_after {
        let days = (now - not_after).whole_days();
        findings.push(finding(
            Severity::Error,
            FindingCode::Expired,
            format!("{what} expired on {} ({days} days ago)", date(not_after)),
        ));
    } else if (not_after - now).whole_days() < expiry_warning_days {
        findings.push(finding(
            Severity::Warning,
            FindingCode::ExpiresSoon,
            format!(
                "{what} expires on {} (in {} days)",
                date(not_after),
                (not_after - now).whole_days()
            ),
        ));
    }
    if now < not_before {
        findings.push(finding(
            Severity::Error,
            FindingCode::NotYetValid,
            format!(
                "{what} is not valid before {} (check the clocks too)",
                date(not_before)
            ),
        ));
    }
    findings
}

fn san_names(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<String>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(name) => dns.push((*name).to_owned()),
                GeneralName::IPAddress(ip) => ips.push(format_ip(ip)),
                _ => {}
            }
        }
    }
    (dns, ips)
}

/// Checks the probed name against the DNS and IP subject alternative names (or the CN when
/// there are none), with RFC 6125 wildcards in the leftmost label only.
///
/// A mismatch on a trusted certificate is an error: the name is all that ties a trusted
/// certificate to this server. On a self-signed or untrusted one it is a warning, as mstsc
/// shows it, because such a certificate proves nothing about any name.
fn name_finding(leaf: &X509Certificate<'_>, server_name: &str, trusted: bool) -> Option<Finding> {
    let wanted_ip: Option<std::net::IpAddr> = server_name.trim_matches(['[', ']']).parse().ok();
    let (dns_names, ips) = san_names(leaf);
    let candidates: Vec<String> = if dns_names.is_empty() && ips.is_empty() {
        leaf.subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect()
    } else {
        dns_names
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
        FindingCode::NameMismatch,
        format!("the certificate is not valid for `{server_name}` (it names {presented})"),
    ))
}

/// RFC 6125 matching of a presented DNS name (possibly `*.` wildcard) against a host name.
pub(super) fn dns_name_matches(presented: &str, host: &str) -> bool {
    let presented = presented.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match presented.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(label, rest)| {
            !label.is_empty() && rest == suffix && suffix.contains('.')
        }),
        None => presented == host,
    }
}

fn eku_finding(leaf: &X509Certificate<'_>) -> Option<Finding> {
    let eku = match leaf.extended_key_usage() {
        Ok(Some(eku)) => eku.value,
        Ok(None) => return None, // no EKU: any use
        Err(e) => {
            return Some(finding(
                Severity::Error,
                FindingCode::EkuNotServerAuth,
                format!("the extended key usage extension cannot be parsed ({e})"),
            ));
        }
    };
    let rdp_auth = eku
        .other
        .iter()
        .any(|oid| oid.to_id_string() == OID_RDP_AUTH);
    if eku.any || eku.server_auth || rdp_auth {
        return None;
    }
    Some(finding(
        Severity::Error,
        FindingCode::EkuNotServerAuth,
        "the extended key usage allows neither Server Authentication (1.3.6.1.5.5.7.3.1) nor Remote Desktop Authentication (1.3.6.1.4.1.311.54.1.2): clients refuse it for RDP".to_owned(),
    ))
}

fn key_usage_finding(leaf: &X509Certificate<'_>) -> Option<Finding> {
    let usage = match leaf.key_usage() {
        Ok(Some(usage)) => usage.value,
        Ok(None) => return None, // no key usage: any use
        Err(e) => {
            return Some(finding(
                Severity::Error,
                FindingCode::KeyUsageMissing,
                format!("the key usage extension cannot be parsed ({e})"),
            ));
        }
    };
    let rsa = matches!(leaf.public_key().parsed(), Ok(PublicKey::RSA(_)));
    let usable = usage.digital_signature() || (rsa && usage.key_encipherment());
    if usable {
        return None;
    }
    let needs = if rsa {
        "digitalSignature (or keyEncipherment)"
    } else {
        "digitalSignature"
    };
    Some(finding(
        Severity::Error,
        FindingCode::KeyUsageMissing,
        format!("the key usage lacks {needs}, so the key cannot be used for the TLS handshake"),
    ))
}

/// `RSA 2048`, `ECDSA P-256`, ...
pub(super) fn key_description(cert: &X509Certificate<'_>) -> String {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => {
            let curve = cert
                .public_key()
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".to_owned(),
                Some("1.3.132.0.34") => "ECDSA P-384".to_owned(),
                Some("1.3.132.0.35") => "ECDSA P-521".to_owned(),
                _ => format!("ECDSA ({} bits)", point.key_size()),
            }
        }
        Ok(PublicKey::DSA(_)) => "DSA".to_owned(),
        Ok(_) => cert.public_key().algorithm.algorithm.to_id_string(),
        Err(_) => "unparsable key".to_owned(),
    }
}

/// Bits of an RSA key, `None` for other keys.
pub(super) fn rsa_bits(cert: &X509Certificate<'_>) -> Option<usize> {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(rsa.key_size()),
        _ => None,
    }
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "1.3.101.112" => "Ed25519",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// Whether a signature algorithm is broken (MD2, MD5, SHA-1).
pub(super) fn weak_signature(cert: &X509Certificate<'_>) -> Option<String> {
    let name = signature_name(cert.signature_algorithm.algorithm.to_id_string().as_str());
    (name.contains("md2") || name.contains("md5") || name.contains("sha1") || name.contains("SHA1"))
        .then_some(name)
}

fn date(t: time::OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn format_ip(bytes: &[u8]) -> String {
    match <[u8; 4]>::try_from(bytes) {
        Ok(v4) => std::net::Ipv4Addr::from(v4).to_string(),
        Err(_) => match <[u8; 16]>::try_from(bytes) {
            Ok(v6) => std::net::Ipv6Addr::from(v6).to_string(),
            Err(_) => hex::encode(bytes),
        },
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
}
