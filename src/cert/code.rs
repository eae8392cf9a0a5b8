//! The certificate findings' vocabulary: one typed code per thing the analysis can find.
//!
//! The names are stable (JSON `code`, the fixtures manifest, `--json` consumers grep them);
//! adding a finding is adding a row here, then the place in the analysis that finds it.

macro_rules! finding_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, )*) => {
        /// What a certificate finding is about; serialised as its stable name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum FindingCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl FindingCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant),*];

            /// The stable name, e.g. `expired`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(FindingCode::$variant => $name,)*
                }
            }
        }
    };
}

finding_codes! {
    /// The leaf (or another certificate presented) is not parsable X.509.
    Unparsable = "unparsable",
    /// The server presented no certificate.
    NoCertificate = "no_certificate",
    /// The chain is longer than path building follows.
    ChainTooLong = "chain_too_long",
    /// The chain could not be verified (a guard: "not trusted" never comes without a reason).
    ChainUnverified = "chain_unverified",
    /// A key too weak (RSA under 2048 bits).
    WeakKey = "weak_key",
    /// A signature with a broken hash (MD5, SHA-1).
    WeakSignature = "weak_signature",
    /// A self-signed leaf that is itself a trust anchor.
    SelfSignedTrusted = "self_signed_trusted",
    /// A self-signed leaf (what RDP servers generate by default).
    SelfSigned = "self_signed",
    /// The chain ends at an issuer that is not trusted.
    UntrustedIssuer = "untrusted_issuer",
    /// An issuer that is not a CA (no basicConstraints cA).
    IssuerNotCa = "issuer_not_ca",
    /// A signature in the chain that does not verify.
    BadSignature = "bad_signature",
    /// An intermediate is missing.
    ChainIncomplete = "chain_incomplete",
    /// The intermediates are presented out of order.
    ChainOrder = "chain_order",
    /// Certificates presented that belong to no path.
    ChainExtra = "chain_extra",
    /// The leaf has expired.
    Expired = "expired",
    /// The leaf expires within the warning period.
    ExpiresSoon = "expires_soon",
    /// The leaf is not valid yet.
    NotYetValid = "not_yet_valid",
    /// The leaf does not name the server.
    NameMismatch = "name_mismatch",
    /// The extended key usage does not allow server authentication.
    EkuNotServerAuth = "eku_not_server_auth",
    /// The key usage does not allow the TLS key exchange.
    KeyUsageMissing = "key_usage_missing",
    /// Trust was not evaluated: no trust store was loaded (`--pin` without `--ca-file`).
    TrustNotEvaluated = "trust_not_evaluated",
    /// The leaf matches `--pin`.
    PinMatched = "pin_matched",
    /// The leaf does not match `--pin`.
    PinMismatch = "pin_mismatch",
    /// First contact: the certificate was recorded in the known-hosts file.
    KnownHostAdded = "known_host_added",
    /// The certificate is the one recorded in the known-hosts file.
    KnownHostMatched = "known_host_matched",
    /// The certificate differs from the one recorded in the known-hosts file.
    CertificateChanged = "certificate_changed",
}

named!(FindingCode);

impl std::str::FromStr for FindingCode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.name() == s)
            .ok_or_else(|| format!("unknown certificate finding `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::FindingCode;

    #[test]
    fn names_are_unique_and_read_back() {
        let mut names: Vec<&str> = FindingCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FindingCode::ALL.len());
        for code in FindingCode::ALL {
            assert_eq!(code.name().parse::<FindingCode>(), Ok(*code));
        }
    }
}
