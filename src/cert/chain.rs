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
    let mut walk = Walk {
        parsed,
        trust,
        now,
        expiry_warning_days,
        findings: Vec::new(),
        trusted: false,
        used: vec![false; parsed.len()],
        out_of_order: false,
    };
    walk.used[0] = true;
    walk.unparsable();
    walk.follow();
    walk.finish()
}

/// The walk from the leaf towards a trust anchor, and what it found.
struct Walk<'a, 'c> {
    parsed: &'a [Option<X509Certificate<'c>>],
    trust: &'a TrustStore,
    now: time::OffsetDateTime,
    expiry_warning_days: i64,
    findings: Vec<Finding>,
    trusted: bool,
    /// Which presented certificates the path used.
    used: Vec<bool>,
    /// Whether an issuer was not the next certificate presented.
    out_of_order: bool,
}

/// Where the path goes after a certificate whose issuer the server presented.
enum Next {
    /// On to the presented certificate at this index.
    Follow(usize),
    /// Nowhere: the link is broken (the finding says why).
    Broken,
}

impl<'a, 'c> Walk<'a, 'c> {
    /// Presented certificates that are not X.509 at all.
    fn unparsable(&mut self) {
        for (index, cert) in self.parsed.iter().enumerate().skip(1) {
            if cert.is_none() {
                self.used[index] = true;
                self.findings.push(finding(
                    Severity::Error,
                    FindingCode::Unparsable,
                    format!(
                        "certificate {} of the chain cannot be parsed as X.509",
                        index + 1
                    ),
                ));
            }
        }
    }

    /// Follows issuers from the leaf until the path ends (trusted, or with a finding saying
    /// why not); a path longer than [`MAX_PATH`] is cut short, and says so.
    fn follow(&mut self) {
        let parsed = self.parsed;
        let mut current = 0;
        for _ in 0..MAX_PATH {
            let Some(cert) = parsed[current].as_ref() else {
                return;
            };
            let what = if current == 0 {
                "the certificate".to_owned()
            } else {
                format!("the intermediate `{}`", name(cert))
            };
            let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
            self.check(cert, current, &what, self_issued);
            if self_issued {
                self.end_self_issued(cert, current);
                return;
            }
            match self.presented_issuer(cert, current) {
                Some(Next::Follow(next)) => current = next,
                Some(Next::Broken) => return,
                None => {
                    self.end_at_anchors(cert);
                    return;
                }
            }
        }
        self.findings.push(finding(
            Severity::Error,
            FindingCode::ChainTooLong,
            format!(
                "the path from the certificate has more than {MAX_PATH} certificates; rdpscope stops there, so the chain cannot be verified (RDP servers send 1 to 4)"
            ),
        ));
    }

    /// The checks of one certificate of the path: key strength, validity (the leaf's is
    /// checked with the leaf), and its signature algorithm (not for a self-issued
    /// intermediate, whose self-signature proves nothing).
    fn check(&mut self, cert: &X509Certificate<'_>, current: usize, what: &str, self_issued: bool) {
        if let Some(bits) = rsa_bits(cert).filter(|bits| *bits < MIN_RSA_BITS) {
            self.findings.push(finding(
                Severity::Error,
                FindingCode::WeakKey,
                format!(
                    "{what} has a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
                ),
            ));
        }
        if current > 0 {
            self.findings
                .extend(validity(cert, what, self.now, self.expiry_warning_days));
        }
        if !self_issued || current == 0 {
            if let Some(algorithm) = weak_signature(cert) {
                self.findings.push(finding(
                    Severity::Error,
                    FindingCode::WeakSignature,
                    format!("{what} is signed with {algorithm}, which is broken"),
                ));
            }
        }
    }

    /// The path ends at a self-issued certificate. It is trusted by its key (an anchor with
    /// the same subject and key) or not at all; its self-signature proves nothing either
    /// way, and the TLS handshake has already shown that the server holds the leaf's key.
    /// So the self-signature is not verified (saving a signature verification per probe).
    fn end_self_issued(&mut self, cert: &X509Certificate<'_>, current: usize) {
        if self.trust.is_anchor(cert) {
            self.trusted = true;
            if current == 0 {
                self.findings.push(finding(
                    Severity::Info,
                    FindingCode::SelfSignedTrusted,
                    "the self-signed certificate is itself trusted (system roots or --ca-file)"
                        .to_owned(),
                ));
            }
        } else if current == 0 {
            self.findings.push(finding(
                Severity::Warning,
                FindingCode::SelfSigned,
                "the certificate is self-signed (the RDP default): clients cannot verify the server's identity".to_owned(),
            ));
        } else {
            self.findings.push(finding(
                Severity::Warning,
                FindingCode::UntrustedIssuer,
                format!("the chain ends at the root `{}`, which is not trusted (system roots and --ca-file)", name(cert)),
            ));
        }
    }

    /// The issuer of `cert` among what the server presented (and not used yet): checked to
    /// be a CA and to have signed `cert`. `None` when the server did not present it.
    fn presented_issuer(&mut self, cert: &X509Certificate<'_>, current: usize) -> Option<Next> {
        let parsed = self.parsed;
        let issuer_raw = cert.issuer().as_raw();
        let next = (0..parsed.len()).find(|&i| {
            !self.used[i]
                && parsed[i]
                    .as_ref()
                    .is_some_and(|p| p.subject().as_raw() == issuer_raw)
        })?;
        if next != current + 1 {
            self.out_of_order = true;
        }
        self.used[next] = true;
        if let Some(issuer) = parsed[next].as_ref() {
            let is_ca = issuer
                .basic_constraints()
                .ok()
                .flatten()
                .is_some_and(|bc| bc.value.ca);
            if !is_ca {
                self.findings.push(finding(
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
                self.findings.push(finding(
                    Severity::Error,
                    FindingCode::BadSignature,
                    format!(
                        "the signature of `{}` does not verify with the key of `{}`, the certificate presented as its issuer",
                        name(cert),
                        name(issuer)
                    ),
                ));
                return Some(Next::Broken);
            }
        }
        Some(Next::Follow(next))
    }

    /// The path ends at `cert`, whose issuer the server did not present: trusted when a
    /// trust anchor of that name signed it; otherwise a finding says why not (another key
    /// signed it, the intermediate was not sent, or the issuer is unknown).
    fn end_at_anchors(&mut self, cert: &X509Certificate<'_>) {
        let mut named_anchor = false;
        for anchor in self.trust.anchors_named(cert.issuer().as_raw()) {
            named_anchor = true;
            let Ok((_, anchor_cert)) = X509Certificate::from_der(anchor.der.as_ref()) else {
                continue;
            };
            if signed_by(cert, &anchor_cert) != Some(false) {
                self.trusted = true;
                return;
            }
        }
        self.findings.push(if named_anchor {
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

    /// What the order and the certificates left over say, then the verdict.
    fn finish(mut self) -> Trust {
        if self.out_of_order {
            self.findings.push(finding(
                Severity::Warning,
                FindingCode::ChainOrder,
                "the server sends its intermediate certificates out of order (each should follow the certificate it issued)".to_owned(),
            ));
        }
        let extra = self.used.iter().filter(|u| !**u).count();
        if extra > 0 {
            self.findings.push(finding(
                Severity::Info,
                FindingCode::ChainExtra,
                format!("the server sends {extra} certificate(s) that are not part of the chain"),
            ));
        }
        Trust {
            trusted: self.trusted,
            findings: self.findings,
        }
    }
}
