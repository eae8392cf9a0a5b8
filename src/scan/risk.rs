//! The risks a scan flags: stable names an auditor can grep, each with why it matters and
//! the fix. One table.

use serde::Serialize;

use super::ScanReport;
use crate::cert::FindingCode;
use crate::report::Severity;

/// A risk's stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RiskCode {
    /// The server accepts a connection without Network Level Authentication.
    NlaNotRequired,
    /// The server accepts Standard RDP Security.
    StandardRdpSecurityAccepted,
    /// Under Standard RDP Security the server chooses 40- or 56-bit RC4, no encryption, or
    /// a level that leaves server-to-client traffic in clear text.
    WeakRdpEncryption,
    /// The server accepts TLS 1.0.
    Tls10Accepted,
    /// The server accepts TLS 1.1.
    Tls11Accepted,
    /// The server chooses weak cipher suites when offered.
    WeakCipherSuites,
    /// The server's CredSSP version predates version 5, the revision that binds the
    /// public-key proof to a client nonce (the CVE-2018-0886 defence).
    CredsspOracleUnpatched,
    /// The certificate has expired.
    CertificateExpired,
    /// The certificate is self-signed.
    CertificateSelfSigned,
    /// The server's clock is more than five minutes off ours.
    ClockSkew,
}

/// One row of [`RISKS`]: code, name, severity, why it matters, the fix.
pub struct RiskRow {
    /// The code.
    pub code: RiskCode,
    /// Its stable name.
    pub name: &'static str,
    /// How bad.
    pub severity: Severity,
    /// Why it matters, one sentence.
    pub why: &'static str,
    /// How to fix it, one sentence.
    pub fix: &'static str,
}

/// Every risk a scan can flag.
pub static RISKS: &[RiskRow] = &[
    RiskRow {
        code: RiskCode::NlaNotRequired,
        name: "nla_not_required",
        severity: Severity::Warning,
        why: "anyone who reaches the port gets a session and the logon screen before authenticating, which exposes the server to pre-authentication flaws (BlueKeep) and password guessing on the console",
        fix: "require Network Level Authentication (System Properties > Remote > \"Allow connections only from computers running Remote Desktop with NLA\", or UserAuthentication=1 on the RDP-Tcp listener)",
    },
    RiskRow {
        code: RiskCode::StandardRdpSecurityAccepted,
        name: "standard_rdp_security_accepted",
        severity: Severity::Error,
        why: "Standard RDP Security encrypts with RC4 and does not authenticate the server, so a man in the middle can read and alter the session",
        fix: "set the RDP-Tcp listener's Security Layer to SSL (TLS) or Negotiate with NLA (SecurityLayer=2, Group Policy \"Require use of specific security layer for remote (RDP) connections\")",
    },
    RiskRow {
        code: RiskCode::WeakRdpEncryption,
        name: "weak_rdp_encryption",
        severity: Severity::Error,
        why: "40- and 56-bit RC4 keys are brute-forced in hours, and with no encryption or ENCRYPTION_LEVEL_LOW the server's screen (and at level none the typed password) crosses the network in clear text",
        fix: "stop accepting Standard RDP Security; until then set the Encryption Level to High or FIPS (MinEncryptionLevel=3 or 4 on the RDP-Tcp listener, Group Policy \"Set client connection encryption level\")",
    },
    RiskRow {
        code: RiskCode::Tls10Accepted,
        name: "tls1_0_accepted",
        severity: Severity::Warning,
        why: "TLS 1.0 is deprecated (RFC 8996) and its CBC constructions are weak; clients that still accept it can be downgraded",
        fix: "disable TLS 1.0 for the server in SCHANNEL (HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.0\\Server, Enabled=0) once every client speaks TLS 1.2",
    },
    RiskRow {
        code: RiskCode::Tls11Accepted,
        name: "tls1_1_accepted",
        severity: Severity::Warning,
        why: "TLS 1.1 is deprecated (RFC 8996)",
        fix: "disable TLS 1.1 for the server in SCHANNEL (Protocols\\TLS 1.1\\Server, Enabled=0)",
    },
    RiskRow {
        code: RiskCode::WeakCipherSuites,
        name: "weak_cipher_suites",
        severity: Severity::Warning,
        why: "the server agrees to cipher suites that are broken (RC4), have 64-bit blocks (3DES) or lack forward secrecy (static RSA)",
        fix: "remove them from the SCHANNEL cipher suite order (Group Policy \"SSL Cipher Suite Order\", or Disable-TlsCipherSuite)",
    },
    RiskRow {
        code: RiskCode::CredsspOracleUnpatched,
        name: "credssp_oracle_unpatched",
        severity: Severity::Error,
        why: "CredSSP before version 5 lacks the nonce-bound public-key proof that MS-CSSP 5.1 calls its major security revision (the defence against CVE-2018-0886, the encryption oracle): a man in the middle can relay the credentials of a client that talks to it",
        fix: "install the CredSSP update (KB4093492 and its successors) and set \"Encryption Oracle Remediation\" to Force Updated Clients",
    },
    RiskRow {
        code: RiskCode::CertificateExpired,
        name: "certificate_expired",
        severity: Severity::Error,
        why: "clients warn on every connection, users learn to click through certificate warnings, and NLA clients with strict policies refuse",
        fix: "renew the RDP certificate (auto-enrollment with the Remote Desktop Authentication template, or delete the self-signed one so Windows makes a new one)",
    },
    RiskRow {
        code: RiskCode::CertificateSelfSigned,
        name: "certificate_self_signed",
        severity: Severity::Info,
        why: "clients cannot verify the server's identity, so a man in the middle goes unnoticed by users used to the warning",
        fix: "issue the RDP certificate from an enterprise CA (Remote Desktop Authentication template) and bind it to the listener",
    },
    RiskRow {
        code: RiskCode::ClockSkew,
        name: "clock_skew",
        severity: Severity::Warning,
        why: "Kerberos fails beyond five minutes of clock difference and certificate validity checks go wrong",
        fix: "synchronise the server's clock with the domain hierarchy or an NTP source (w32tm /resync)",
    },
];

impl RiskCode {
    /// The row of this code.
    pub fn row(self) -> &'static RiskRow {
        RISKS
            .iter()
            .find(|row| row.code == self)
            .expect("every risk code has a row")
    }

    /// The stable name.
    pub fn name(self) -> &'static str {
        self.row().name
    }
}

named!(RiskCode);

/// A risk found on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Risk {
    /// The stable name.
    pub code: RiskCode,
    /// How bad.
    pub severity: Severity,
    /// What was seen, why it matters and the fix, one line.
    pub message: String,
}

/// Clock skew beyond which Kerberos fails (its default tolerance).
const MAX_SKEW_SECONDS: i64 = 300;

/// The risks of a finished scan, most severe first.
pub(super) fn assess(report: &ScanReport) -> Vec<Risk> {
    let mut risks = Vec::new();
    let mut flag = |code: RiskCode, seen: String| {
        let row = code.row();
        risks.push(Risk {
            code,
            severity: row.severity,
            message: format!("{seen}: {}; fix: {}", row.why, row.fix),
        });
    };
    if report.nla_required == Some(false) {
        let without: Vec<&str> = ["rdp", "tls"]
            .into_iter()
            .filter(|p| report.accepts(p))
            .collect();
        flag(
            RiskCode::NlaNotRequired,
            format!("accepts {} without NLA", without.join(" and ")),
        );
    }
    if report.accepts("rdp") {
        flag(
            RiskCode::StandardRdpSecurityAccepted,
            "selects Standard RDP Security when offered".to_owned(),
        );
    }
    if let Some(standard) = &report.standard_rdp_security {
        let mut weak: Vec<String> = standard
            .methods
            .iter()
            .filter(|m| {
                m.verdict == super::Verdict::Accepted && matches!(m.method, "40bit" | "56bit")
            })
            .map(|m| format!("{} RC4 when offered alone", m.method))
            .collect();
        if let Some(p) = standard
            .preferred
            .as_ref()
            .filter(|p| p.method == 0 || p.level < 2)
        {
            weak.insert(0, format!("chooses {} at {}", p.method_name, p.level_name));
        }
        if !weak.is_empty() {
            flag(RiskCode::WeakRdpEncryption, weak.join(", "));
        }
    }
    if let Some(tls) = &report.tls {
        for (version, code) in [
            ("TLS 1.0", RiskCode::Tls10Accepted),
            ("TLS 1.1", RiskCode::Tls11Accepted),
        ] {
            if tls
                .versions
                .iter()
                .any(|v| v.version == version && v.accepted)
            {
                flag(code, format!("accepts {version}"));
            }
        }
        let weak: Vec<String> = tls
            .versions
            .iter()
            .flat_map(|v| {
                v.cipher_suites
                    .iter()
                    .filter(|s| s.weak.is_some())
                    .map(move |s| format!("{} ({})", s.name, v.version))
            })
            .collect();
        if !weak.is_empty() {
            flag(
                RiskCode::WeakCipherSuites,
                format!("chooses {}", weak.join(", ")),
            );
        }
    }
    if let Some(version) = report.credssp_version.filter(|&v| v < 5) {
        flag(
            RiskCode::CredsspOracleUnpatched,
            format!("answers with CredSSP version {version}"),
        );
    }
    if let Some(certificate) = &report.certificate {
        let has = |code: FindingCode| certificate.findings.iter().any(|f| f.code == code);
        if has(FindingCode::Expired) {
            flag(
                RiskCode::CertificateExpired,
                format!("the certificate expired on {}", certificate.not_after),
            );
        }
        if has(FindingCode::SelfSigned) {
            flag(
                RiskCode::CertificateSelfSigned,
                format!("the certificate ({}) is self-signed", certificate.subject),
            );
        }
    }
    if let Some(skew) = report
        .ntlm
        .as_ref()
        .and_then(|n| n.clock_skew_seconds)
        .filter(|s| s.abs() > MAX_SKEW_SECONDS)
    {
        flag(
            RiskCode::ClockSkew,
            format!("the server's clock is {skew:+} s off ours"),
        );
    }
    risks.sort_by_key(|risk| std::cmp::Reverse(risk.severity));
    risks
}
