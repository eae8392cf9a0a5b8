//! The chain: path building from the leaf through what the server presented to a trust
//! anchor, with every link's signature, order, validity and key strength checked.

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::leaf::{rsa_bits, validity, weak_signature};
use super::{finding, FindingCode, TrustStore};
use crate::report::{Finding, Severity};

/// How long a path may get before we stop following it.
const MAX_PATH: usize = 10;
/// The smallest RSA key considered acceptable.
const MIN_RSA_BITS: usize = 2048;
/// id-ad-caIssuers (RFC 5280 4.2.2.1).
const OID_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// The verdict on the chain.
pub(super) struct Trust {
    /// Whether the path ends at a trust anchor with every signature verified.
    pub(super) trusted: bool,
    pub(super) findings: Vec<Finding>,
}

fn name(cert: &X509Certificate<'_>) -> String {
    cert.subject().to_string()
}

/// Verifies that `issuer` signed `cert`. `None` when it cannot be judged (an RSA issuer key
/// too weak for the verifier, reported as weak_key instead).
fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Option<bool> {
    if rsa_bits(issuer).is_some_and(|bits| bits < MIN_RSA_BITS) {
        return None;
    }
    Some(cert.verify_signature(Some(issuer.public_key())).is_ok())
}

fn ca_issuers_url(cert: &X509Certificate<'_>) -> Option<String> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => aia.iter().find_map(|desc| {
                if desc.access_method.to_id_string() != OID_CA_ISSUERS {
                    return None;
                }
                match &desc.access_location {
                    GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                }
            }),
            _ => None,
        })
}

/// Follows the chain from the leaf (`parsed[0]`, which the caller has checked parses).
pub(super) fn analyze(
    parsed: &[Option<X509Certificate<'_>>],
    trust: &TrustStore,
    now: time::OffsetDateTime,
    expiry_warning_days: i64,
) -> Trust {
    let mut findings = Vec::new();
    let mut trusted = false;
    let mut used = vec![false; parsed.len()];
    let mut out_of_order = false;
    let mut current = 0;
    used[0] = true;

    for (index, cert) in parsed.iter().enumerate().skip(1) {
        if cert.is_none() {
            used[index] = true;
            findings.push(finding(
                Severity::Error,
                FindingCode::Unparsable,
                format!(
                    "certificate {} of the chain cannot be parsed as X.509",
                    index + 1
                ),
            ));
        }
    }

    // The path ends (trusted or with a finding saying why not) by a `break`; running out
    // of steps means it was cut short.
    let mut depth = 0;
    loop {
        if depth == MAX_PATH {
            findings.push(finding(
                Severity::Error,
                FindingCode::ChainTooLong,
                format!(
                    "the path from the certificate has more than {MAX_PATH} certificates; rdpscope stops there, so the chain cannot be verified (RDP servers send 1 to 4)"
                ),
            ));
            break;
        }
        depth += 1;
        let Some(cert) = parsed[current].as_ref() else {
            break;
        };
        let what = if current == 0 {
            "the certificate".to_owned()
        } else {
            format!("the intermediate `{}`", name(cert))
        };
        if let Some(bits) = rsa_bits(cert).filter(|bits| *bits < MIN_RSA_BITS) {
            findings.push(finding(
                Severity::Error,
                FindingCode::WeakKey,
                format!(
                    "{what} has a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
                ),
            ));
        }
        let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
        if current > 0 {
            findings.extend(validity(cert, &what, now, expiry_warning_days));
        }
        if !self_issued || current == 0 {
            if let Some(algorithm) = weak_signature(cert) {
                findings.push(finding(
                    Severity::Error,
                    FindingCode::WeakSignature,
                    format!("{what} is signed with {algorithm}, which is broken"),
                ));
            }
        }

        if self_issued {
            // A self-issued certificate is trusted by its key (an anchor with the same subject
            // and key) or not at all; its self-signature proves nothing either way, and the
            // TLS handshake has already shown that the server holds the leaf's key. So the
            // self-signature is not verified (saving a signature verification per probe).
            if trust.is_anchor(cert) {
                trusted = true;
                if current == 0 {
                    findings.push(finding(
                        Severity::Info,
                        FindingCode::SelfSignedTrusted,
                        "the self-signed certificate is itself trusted (system roots or --ca-file)"
                            .to_owned(),
                    ));
                }
            } else if current == 0 {
                findings.push(finding(
                    Severity::Warning,
                    FindingCode::SelfSigned,
                    "the certificate is self-signed (the RDP default): clients cannot verify the server's identity".to_owned(),
                ));
            } else {
                findings.push(finding(
                    Severity::Warning,
                    FindingCode::UntrustedIssuer,
                    format!("the chain ends at the root `{}`, which is not trusted (system roots and --ca-file)", name(cert)),
                ));
            }
            break;
        }

        // The issuer among what the server presented.
        let issuer_raw = cert.issuer().as_raw();
        let presented = (0..parsed.len()).find(|&i| {
            !used[i]
                && parsed[i]
                    .as_ref()
                    .is_some_and(|p| p.subject().as_raw() == issuer_raw)
        });
        if let Some(next) = presented {
            if next != current + 1 {
                out_of_order = true;
            }
            used[next] = true;
            if let Some(issuer) = parsed[next].as_ref() {
                let is_ca = issuer
                    .basic_constraints()
                    .ok()
                    .flatten()
                    .is_some_and(|bc| bc.value.ca);
                if !is_ca {
                    findings.push(finding(
                        Severity::Error,
                        FindingCode::IssuerNotCa,
                        format!(
                            "`{}` is presented as the issuer of `{}` but is not a CA certificate (basicConstraints cA)",
                            name(issuer),
                            name(cert)
                        ),
                    ));
                }
                if signed_by(cert, issuer) == Some(false) {
                    findings.push(finding(
                        Severity::Error,
                        FindingCode::BadSignature,
                        format!(
                            "the signature of `{}` does not verify with the key of `{}`, the certificate presented as its issuer",
                            name(cert),
                            name(issuer)
                        ),
                    ));
                    break;
                }
            }
            current = next;
            continue;
        }

        // The issuer among the trust anchors.
        let mut named_anchor = false;
        for anchor in trust.anchors_named(issuer_raw) {
            named_anchor = true;
            let Ok((_, anchor_cert)) = X509Certificate::from_der(anchor.der.as_ref()) else {
                continue;
            };
            if signed_by(cert, &anchor_cert) != Some(false) {
                trusted = true;
                break;
            }
        }
        if !trusted {
            findings.push(if named_anchor {
                finding(
                    Severity::Error,
                    FindingCode::BadSignature,
                    format!(
                        "`{}` names the trusted CA `{}` as its issuer, but that CA's key did not sign it",
                        name(cert),
                        cert.issuer()
                    ),
                )
            } else if let Some(url) = ca_issuers_url(cert) {
                finding(
                    Severity::Warning,
                    FindingCode::ChainIncomplete,
                    format!(
                        "the server did not send the intermediate certificate `{}` (published at {url}); add it to the certificate chain on the server",
                        cert.issuer()
                    ),
                )
            } else {
                finding(
                    Severity::Warning,
                    FindingCode::UntrustedIssuer,
                    format!(
                        "the issuer `{}` is neither a trusted CA (system roots and --ca-file) nor presented by the server",
                        cert.issuer()
                    ),
                )
            });
        }
        break;
    }

    if out_of_order {
        findings.push(finding(
            Severity::Warning,
            FindingCode::ChainOrder,
            "the server sends its intermediate certificates out of order (each should follow the certificate it issued)".to_owned(),
        ));
    }
    let extra = used.iter().filter(|u| !**u).count();
    if extra > 0 {
        findings.push(finding(
            Severity::Info,
            FindingCode::ChainExtra,
            format!("the server sends {extra} certificate(s) that are not part of the chain"),
        ));
    }
    Trust { trusted, findings }
}
