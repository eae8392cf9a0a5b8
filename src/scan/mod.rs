//! `rdpscope scan`: what an RDP endpoint offers, exactly. One connection per security
//! protocol offering only it (supported means *selected*), hand-built ClientHellos per TLS
//! version and repeated offers for the cipher suites, the NTLM CHALLENGE of an anonymous
//! NEGOTIATE inside CredSSP (no credentials), the certificate as `probe` analyses it, and
//! risk flags with stable names. Connections run in parallel.

pub(crate) mod rdp;
mod risk;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ironrdp_pdu::nego::{ConnectionConfirm, SecurityProtocol};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::diagnosis::codes;
use crate::report::CertificateInfo;
use crate::target::Target;

pub use crate::probe::hello;
pub use rdp::{MethodResult, RdpEncryption, StandardRdpSecurity};
pub use risk::{Risk, RiskCode, RISKS};

use crate::probe::hello::{bounded, hello_once, negotiate, Ended};

/// How to scan.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanOptions {
    /// The bound on every wait of every connection (connect, answer, handshake).
    pub timeout: Duration,
    /// Name to check the certificate against (defaults to the target host).
    pub server_name: Option<String>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            server_name: None,
        }
    }
}

/// The security protocols a scan offers, one per connection, in this order.
const PROTOCOLS: [(SecurityProtocol, &str); 6] = [
    (SecurityProtocol::empty(), "rdp"),
    (SecurityProtocol::SSL, "tls"),
    (SecurityProtocol::HYBRID, "hybrid"),
    (SecurityProtocol::HYBRID_EX, "hybrid_ex"),
    (SecurityProtocol::RDSTLS, "rdstls"),
    (SecurityProtocol::RDSAAD, "rdsaad"),
];

/// What the server did with an offer of one security protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The server selected the protocol offered.
    Accepted,
    /// The server answered RDP_NEG_FAILURE.
    Refused,
    /// The server selected another protocol than the one offered.
    Downgraded,
    /// The server closed the connection without a Connection Confirm.
    Closed,
    /// No answer in time.
    Timeout,
    /// Anything else: not RDP, a broken Confirm, the connection failed.
    Error,
}

/// One protocol's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProtocolResult {
    /// `rdp`, `tls`, `hybrid`, `hybrid_ex`, `rdstls` or `rdsaad`.
    pub protocol: &'static str,
    /// What the server did.
    pub verdict: Verdict,
    /// The protocol the server selected, when it selected one (`rdp` for a legacy Confirm
    /// without RDP_NEG_RSP).
    pub selected: Option<String>,
    /// The RDP_NEG_FAILURE code, when refused.
    pub neg_failure_code: Option<u32>,
    /// Its name.
    pub neg_failure_name: Option<&'static str>,
    /// The RDP_NEG_RSP flags, when accepted.
    pub flags: Vec<String>,
    /// What went wrong, for `closed`, `timeout` and `error`.
    pub detail: Option<String>,
}

/// One TLS version's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VersionResult {
    /// `TLS 1.0` .. `TLS 1.3`.
    pub version: String,
    /// Whether the server chose this version when only it was offered.
    pub accepted: bool,
    /// The suites the server chose, one per offer, each offer without the ones chosen
    /// before: its preference order, as far as the offers tell.
    pub cipher_suites: Vec<Suite>,
    /// What the server answered when it did not accept (an alert, another version, a close).
    pub detail: Option<String>,
}

/// A cipher suite a server chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Suite {
    /// Its name (`TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`).
    pub name: String,
    /// Its code point.
    pub id: u16,
    /// Why it is weak, if it is.
    pub weak: Option<&'static str>,
}

/// The TLS versions and suites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TlsScan {
    /// The security protocol offered in X.224 to reach TLS (`tls`, else `hybrid` or
    /// `hybrid_ex`).
    pub carrier: &'static str,
    /// Every version, oldest first.
    pub versions: Vec<VersionResult>,
}

/// What the server's NTLM CHALLENGE told, for an anonymous NEGOTIATE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NtlmInfo {
    /// MsvAvNbDomainName.
    pub netbios_domain: Option<String>,
    /// MsvAvNbComputerName.
    pub netbios_computer: Option<String>,
    /// MsvAvDnsDomainName.
    pub dns_domain: Option<String>,
    /// MsvAvDnsComputerName.
    pub dns_computer: Option<String>,
    /// MsvAvDnsTreeName.
    pub dns_tree: Option<String>,
    /// The OS version (major.minor.build), when the CHALLENGE has a Version field.
    pub product_version: Option<String>,
    /// The server's clock (RFC 3339), when the CHALLENGE has a timestamp.
    pub server_time: Option<String>,
    /// The server's clock minus ours, seconds.
    pub clock_skew_seconds: Option<i64>,
}

/// Everything a scan found about one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScanReport {
    /// The target as given.
    pub target: String,
    /// The address scanned, when the name resolved.
    pub address: Option<String>,
    /// Every security protocol, offered alone.
    pub protocols: Vec<ProtocolResult>,
    /// Whether the server requires NLA: it accepted HYBRID or HYBRID_EX and neither
    /// Standard RDP Security nor TLS alone. `None` when it accepted nothing.
    pub nla_required: Option<bool>,
    /// TLS versions and suites, when the server accepted a protocol that runs over TLS.
    pub tls: Option<TlsScan>,
    /// The certificate, analysed as `probe` does (default policy, system roots).
    pub certificate: Option<CertificateInfo>,
    /// What an anonymous NTLM NEGOTIATE inside CredSSP revealed, when NLA is accepted.
    pub ntlm: Option<NtlmInfo>,
    /// The CredSSP (TSRequest) version of the server's first answer.
    pub credssp_version: Option<u32>,
    /// What Standard RDP Security offers, when it is accepted: the encryption method and
    /// level of the MCS Connect Response, for every method offered and each alone.
    pub standard_rdp_security: Option<StandardRdpSecurity>,
    /// Risks, most severe first.
    pub risks: Vec<Risk>,
    /// Why the scan could not run at all (the name did not resolve, nothing listens).
    pub error: Option<String>,
    /// Wall time of the scan.
    pub elapsed_ms: f64,
}

/// Scans `target`.
pub async fn scan(target: &Target, options: &ScanOptions) -> ScanReport {
    let started = Instant::now();
    let mut report = ScanReport {
        target: target.to_string(),
        address: None,
        protocols: Vec::new(),
        nla_required: None,
        tls: None,
        certificate: None,
        ntlm: None,
        credssp_version: None,
        standard_rdp_security: None,
        risks: Vec::new(),
        error: None,
        elapsed_ms: 0.0,
    };
    let addr = match resolve(target, options.timeout).await {
        Ok(addr) => addr,
        Err(error) => {
            report.error = Some(error);
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            return report;
        }
    };
    report.address = Some(addr.to_string());

    let offer = |i: usize| offer_only(addr, PROTOCOLS[i].0, PROTOCOLS[i].1, options.timeout);
    let (rdp, tls, hybrid, hybrid_ex, rdstls, rdsaad) =
        tokio::join!(offer(0), offer(1), offer(2), offer(3), offer(4), offer(5));
    report.protocols = vec![rdp, tls, hybrid, hybrid_ex, rdstls, rdsaad];
    let nla = report.accepts("hybrid") || report.accepts("hybrid_ex");
    let without_nla = report.accepts("rdp") || report.accepts("tls");
    report.nla_required = (nla || without_nla).then_some(nla && !without_nla);
    let standard_security = async {
        match report.accepts("rdp") {
            true => Some(Box::pin(rdp::scan(addr, options.timeout)).await),
            false => None,
        }
    };
    let carrier = [
        (SecurityProtocol::SSL, "tls"),
        (SecurityProtocol::HYBRID_EX, "hybrid_ex"),
        (SecurityProtocol::HYBRID, "hybrid"),
    ]
    .into_iter()
    .find(|(_, name)| report.accepts(name));
    let nla_carrier = [
        (SecurityProtocol::HYBRID_EX, "hybrid_ex"),
        (SecurityProtocol::HYBRID, "hybrid"),
    ]
    .into_iter()
    .find(|(_, name)| report.accepts(name));

    let over_tls = async {
        let (protocol, name) = carrier?;
        let server_name = options.server_name.as_deref().unwrap_or(&target.host);
        let version = |i: usize| {
            tls_version(
                addr,
                protocol,
                hello::Version::ALL[i],
                server_name,
                options.timeout,
            )
        };
        let versions = async {
            let (v10, v11, v12, v13) = tokio::join!(version(0), version(1), version(2), version(3));
            vec![v10, v11, v12, v13]
        };
        let certificate = certificate(target, protocol, options);
        let ntlm = async {
            match nla_carrier {
                Some((protocol, _)) => ntlm_info(addr, protocol, options.timeout).await,
                None => None,
            }
        };
        let (versions, certificate, ntlm) = tokio::join!(versions, certificate, ntlm);
        Some((
            TlsScan {
                carrier: name,
                versions,
            },
            certificate,
            ntlm,
        ))
    };
    // Boxed: the parallel connections' futures together are too large for a small stack.
    let (over_tls, standard_security) = tokio::join!(Box::pin(over_tls), standard_security);
    report.standard_rdp_security = standard_security;
    if let Some((tls, certificate, ntlm)) = over_tls {
        report.tls = Some(tls);
        report.certificate = certificate;
        if let Some((info, version)) = ntlm {
            report.ntlm = Some(info);
            report.credssp_version = Some(version);
        }
    }
    report.risks = risk::assess(&report);
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    report
}

/// The first address of `target`, within `timeout`.
pub(crate) async fn resolve(target: &Target, timeout: Duration) -> Result<SocketAddr, String> {
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .ok_or_else(|| format!("{} has no address", crate::text::escape(&target.host))),
        Ok(Err(error)) => Err(format!("cannot resolve {}: {error}", target.host)),
        Err(_) => Err(format!("resolving {} timed out", target.host)),
    }
}

/// One connection offering only `protocol`.
pub(crate) async fn offer_only(
    addr: SocketAddr,
    protocol: SecurityProtocol,
    name: &'static str,
    timeout: Duration,
) -> ProtocolResult {
    let mut result = ProtocolResult {
        protocol: name,
        verdict: Verdict::Error,
        selected: None,
        neg_failure_code: None,
        neg_failure_name: None,
        flags: Vec::new(),
        detail: None,
    };
    match negotiate(addr, protocol, Instant::now() + timeout).await {
        Ok((
            _,
            ConnectionConfirm::Response {
                flags,
                protocol: selected,
            },
        )) => {
            result.verdict = if selected == protocol {
                Verdict::Accepted
            } else {
                Verdict::Downgraded
            };
            result.selected = Some(crate::probe::protocol_names(selected).join(","));
            result.flags = crate::probe::x224::flag_names(flags);
        }
        Ok((_, ConnectionConfirm::Failure { code })) => {
            let code = u32::from(code);
            result.verdict = Verdict::Refused;
            result.neg_failure_code = Some(code);
            result.neg_failure_name = Some(codes::neg_failure(code).map_or("UNKNOWN", |c| c.name));
        }
        Err(ended) => {
            let (verdict, detail) = ended.verdict();
            result.verdict = verdict;
            result.detail = Some(detail);
        }
    }
    result
}

impl Ended {
    /// The verdict and detail of a scan connection that ended early.
    fn verdict(self) -> (Verdict, String) {
        match self {
            Ended::Closed(detail) => (Verdict::Closed, detail),
            Ended::Timeout(detail) => (Verdict::Timeout, detail),
            Ended::Error(detail) => (Verdict::Error, crate::text::escaped(&detail)),
        }
    }
}

/// Whether the server accepts `version`, and which suites it chooses from repeated offers.
async fn tls_version(
    addr: SocketAddr,
    carrier: SecurityProtocol,
    version: hello::Version,
    server_name: &str,
    timeout: Duration,
) -> VersionResult {
    let mut result = VersionResult {
        version: version.name(),
        accepted: false,
        cipher_suites: Vec::new(),
        detail: None,
    };
    let mut offered: Vec<u16> = version.suites().to_vec();
    while !offered.is_empty() {
        match hello_once(
            addr,
            carrier,
            version,
            &offered,
            server_name,
            Instant::now() + timeout,
        )
        .await
        {
            Ok(hello::Answer::ServerHello {
                version: chosen,
                suite,
            }) if chosen == version && offered.contains(&suite) => {
                result.accepted = true;
                result.cipher_suites.push(Suite {
                    name: hello::suite_name(suite),
                    id: suite,
                    weak: hello::weakness(suite),
                });
                offered.retain(|&s| s != suite);
            }
            Ok(hello::Answer::ServerHello {
                version: chosen,
                suite,
            }) => {
                if result.cipher_suites.is_empty() {
                    result.detail = Some(if chosen == version {
                        format!(
                            "the server chose a suite it was not offered: {}",
                            hello::suite_name(suite)
                        )
                    } else {
                        format!("the server answered with {}", chosen.name())
                    });
                }
                break;
            }
            Ok(hello::Answer::Alert { description, .. }) => {
                if result.cipher_suites.is_empty() {
                    result.detail = Some(format!(
                        "TLS alert {:?}",
                        rustls::AlertDescription::from(description)
                    ));
                }
                break;
            }
            Ok(hello::Answer::Other) => {
                if result.cipher_suites.is_empty() {
                    result.detail = Some("not a TLS answer".to_owned());
                }
                break;
            }
            Err(Ended::Closed(detail) | Ended::Timeout(detail) | Ended::Error(detail)) => {
                if result.cipher_suites.is_empty() {
                    result.detail = Some(crate::text::escaped(&detail));
                }
                break;
            }
        }
    }
    result
}

/// The certificate, as `probe` analyses it: a probe offering `carrier`, until CredSSP.
async fn certificate(
    target: &Target,
    carrier: SecurityProtocol,
    options: &ScanOptions,
) -> Option<CertificateInfo> {
    let probe = crate::ProbeOptions {
        security: crate::SecurityProtocols::only(carrier),
        stage_timeout: options.timeout,
        connect_timeout: options.timeout,
        until: Some(crate::Stage::Credssp),
        server_name: options.server_name.clone(),
        ..crate::ProbeOptions::default()
    };
    crate::probe(target, &probe).await.certificate
}

/// NTLM NEGOTIATE_MESSAGE flags of an anonymous probe, the ones Windows clients send:
/// UNICODE, OEM, REQUEST_TARGET, SIGN, SEAL, LM_KEY, NTLM, ALWAYS_SIGN,
/// EXTENDED_SESSIONSECURITY, VERSION, 128, KEY_EXCH, 56 (MS-NLMP 2.2.2.5).
const NEGOTIATE_FLAGS: u32 = 0xE208_82B7;

/// An anonymous NTLM NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1): no domain, no workstation.
fn ntlm_negotiate() -> Vec<u8> {
    let mut message = b"NTLMSSP\0".to_vec();
    message.extend_from_slice(&1u32.to_le_bytes());
    message.extend_from_slice(&NEGOTIATE_FLAGS.to_le_bytes());
    message.extend_from_slice(&[0; 16]); // DomainNameFields, WorkstationFields: empty
    message.extend_from_slice(&[10, 0, 0x61, 0x4A, 0, 0, 0, 15]); // Version 10.0.19041, NTLM 15
    message
}

/// The server's NTLM CHALLENGE for an anonymous NEGOTIATE inside CredSSP, and its CredSSP
/// version; nothing more is sent (no AUTHENTICATE, no credentials).
async fn ntlm_info(
    addr: SocketAddr,
    carrier: SecurityProtocol,
    timeout: Duration,
) -> Option<(NtlmInfo, u32)> {
    let deadline = Instant::now() + timeout;
    let (tcp, _) = negotiate(addr, carrier, deadline).await.ok()?;
    let connector = tokio_rustls::TlsConnector::from(crate::probe::tls_client_config());
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut tls = bounded(deadline, "to the ClientHello", connector.connect(name, tcp))
        .await
        .ok()?;
    let request = ironrdp_connector::sspi::credssp::TsRequest {
        version: 6,
        nego_tokens: Some(ntlm_negotiate()),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    request.encode_ts_request(&mut bytes).ok()?;
    bounded(deadline, "to the NTLM NEGOTIATE", tls.write_all(&bytes))
        .await
        .ok()?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let framed = crate::probe::trail::pdu::length(
            crate::probe::trail::Layer::Plain,
            crate::Stage::Credssp,
            &received,
        );
        if let Some(len) = framed.filter(|&len| len <= received.len() && !received.is_empty()) {
            let answer =
                ironrdp_connector::sspi::credssp::TsRequest::from_buffer(&received[..len]).ok()?;
            let challenge = ntlm::Challenge::parse(answer.nego_tokens.as_deref()?)?;
            return Some((describe(&challenge), answer.version));
        }
        let n = bounded(deadline, "to the NTLM NEGOTIATE", tls.read(&mut chunk))
            .await
            .ok()?;
        if n == 0 || received.len() > 1 << 16 {
            return None;
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

use crate::ntlm;

fn describe(challenge: &ntlm::Challenge) -> NtlmInfo {
    let server_time = challenge.server_time();
    NtlmInfo {
        netbios_domain: challenge.netbios_domain.clone(),
        netbios_computer: challenge.netbios_computer.clone(),
        dns_domain: challenge.dns_domain.clone(),
        dns_computer: challenge.dns_computer.clone(),
        dns_tree: challenge.dns_tree.clone(),
        product_version: challenge.version.map(|v| v.to_string()),
        server_time: server_time.map(crate::cert::rfc3339),
        clock_skew_seconds: challenge.clock_skew_seconds(),
    }
}

/// A scan for a terminal: the protocols, TLS, certificate, NTLM info and risks.
pub fn render(report: &ScanReport) -> String {
    use crate::text::escape as esc;
    use std::fmt::Write as _;
    let mut out = String::new();
    let address = report.address.as_deref().unwrap_or("not resolved");
    let _ = writeln!(
        out,
        "rdpscope scan {} ({})",
        esc(&report.target),
        esc(address)
    );
    if let Some(error) = &report.error {
        let _ = writeln!(out, "  error: {}", esc(error));
        return out;
    }
    let _ = writeln!(out, "  {:<10} {:<11} detail", "protocol", "verdict");
    for p in &report.protocols {
        let verdict = p.verdict.name();
        let detail = match p.verdict {
            Verdict::Accepted => format!(
                "flags {}",
                if p.flags.is_empty() {
                    "none".to_owned()
                } else {
                    p.flags.join("|")
                }
            ),
            Verdict::Downgraded => format!("selected {}", p.selected.as_deref().unwrap_or("?")),
            Verdict::Refused => format!(
                "RDP_NEG_FAILURE {} {}",
                p.neg_failure_code.unwrap_or(0),
                p.neg_failure_name.unwrap_or("")
            ),
            _ => p.detail.clone().unwrap_or_default(),
        };
        let _ = writeln!(out, "  {:<10} {verdict:<11} {}", p.protocol, esc(&detail));
    }
    let nla = match report.nla_required {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown (no protocol accepted)",
    };
    let _ = writeln!(out, "  nla required: {nla}");
    if let Some(standard) = &report.standard_rdp_security {
        let _ = writeln!(out, "standard rdp security:");
        match &standard.preferred {
            Some(p) => {
                let certificate = match (p.certificate, p.key_bits) {
                    (Some(kind), Some(bits)) => format!("{kind} certificate, {bits}-bit RSA key"),
                    (Some(kind), None) => format!("{kind} certificate"),
                    _ => "no certificate".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  every method offered: chooses {} at {}, {certificate}",
                    p.method_name, p.level_name
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  every method offered: {}",
                    esc(standard.detail.as_deref().unwrap_or(""))
                );
            }
        }
        let alone: Vec<String> = standard
            .methods
            .iter()
            .map(|m| format!("{} {}", m.method, m.verdict.name()))
            .collect();
        let _ = writeln!(out, "  each alone: {}", alone.join(", "));
        let _ = writeln!(out, "  not determined: {}", standard.not_determined);
    }
    if let Some(tls) = &report.tls {
        let _ = writeln!(out, "tls (over {}):", tls.carrier);
        for v in &tls.versions {
            if v.accepted {
                let suites: Vec<String> = v
                    .cipher_suites
                    .iter()
                    .map(|s| match s.weak {
                        Some(why) => format!("{} (weak: {why})", s.name),
                        None => s.name.clone(),
                    })
                    .collect();
                let _ = writeln!(out, "  {:<8} accepted: {}", v.version, suites.join(", "));
            } else {
                let _ = writeln!(
                    out,
                    "  {:<8} not accepted ({})",
                    v.version,
                    esc(v.detail.as_deref().unwrap_or(""))
                );
            }
        }
    }
    if let Some(certificate) = &report.certificate {
        let findings: Vec<&str> = certificate.findings.iter().map(|f| f.code.name()).collect();
        let _ = writeln!(
            out,
            "certificate: {} (issuer {}), expires {}, sha1 {}; findings: {}",
            esc(&certificate.subject),
            esc(&certificate.issuer),
            esc(&certificate.not_after),
            certificate.sha1,
            if findings.is_empty() {
                "none".to_owned()
            } else {
                findings.join(", ")
            }
        );
    }
    if let Some(ntlm) = &report.ntlm {
        let names: Vec<&str> = [
            &ntlm.netbios_computer,
            &ntlm.netbios_domain,
            &ntlm.dns_computer,
            &ntlm.dns_domain,
            &ntlm.dns_tree,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(|n| !n.is_empty())
        .collect();
        let _ = writeln!(
            out,
            "ntlm: {}; OS version {}; server time {}{}; CredSSP version {}",
            esc(&names.join(" / ")),
            ntlm.product_version.as_deref().unwrap_or("not given"),
            ntlm.server_time.as_deref().unwrap_or("not given"),
            ntlm.clock_skew_seconds
                .map_or_else(String::new, |s| format!(" (skew {s:+} s)")),
            report
                .credssp_version
                .map_or_else(|| "?".to_owned(), |v| v.to_string())
        );
    }
    if report.risks.is_empty() {
        let _ = writeln!(out, "risks: none found");
    } else {
        let _ = writeln!(out, "risks:");
        for risk in &report.risks {
            let _ = writeln!(
                out,
                "  {:<8} {:<31} {}",
                risk.severity.name(),
                risk.code.name(),
                esc(&risk.message)
            );
        }
    }
    let _ = writeln!(out, "scanned in {:.1} ms", report.elapsed_ms);
    out
}

/// Reads a targets file: one `host[:port]` per line, `#` starts a comment, blank lines are
/// skipped. The first bad line is an error naming it (`targets.txt:7: ...`).
pub fn read_targets(name: &str, text: &str) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let target = line.parse::<Target>().map_err(|e| {
            format!(
                "{name}:{}: {}",
                index + 1,
                crate::text::escape(&e.to_string())
            )
        })?;
        targets.push(target);
    }
    Ok(targets)
}

/// The CSV header of [`csv_record`].
pub const CSV_HEADER: [&str; 17] = [
    "target",
    "address",
    "nla_required",
    "rdp",
    "rdp_encryption",
    "tls",
    "hybrid",
    "hybrid_ex",
    "rdstls",
    "rdsaad",
    "tls_versions",
    "certificate_sha1",
    "os_version",
    "credssp_version",
    "clock_skew_seconds",
    "risks",
    "error",
];

/// One scan as a CSV record (the columns of [`CSV_HEADER`]; lists joined with `;`).
pub fn csv_record(report: &ScanReport) -> Vec<String> {
    let verdict = |name: &str| {
        report
            .protocols
            .iter()
            .find(|p| p.protocol == name)
            .map_or_else(String::new, |p| p.verdict.name().to_owned())
    };
    let versions = report.tls.as_ref().map_or_else(String::new, |tls| {
        tls.versions
            .iter()
            .filter(|v| v.accepted)
            .map(|v| v.version.clone())
            .collect::<Vec<_>>()
            .join(";")
    });
    vec![
        report.target.clone(),
        report.address.clone().unwrap_or_default(),
        report
            .nla_required
            .map_or_else(String::new, |nla| nla.to_string()),
        verdict("rdp"),
        report
            .standard_rdp_security
            .as_ref()
            .and_then(|s| s.preferred.as_ref())
            .map_or_else(String::new, |p| {
                format!("{};{}", p.method_name, p.level_name)
            }),
        verdict("tls"),
        verdict("hybrid"),
        verdict("hybrid_ex"),
        verdict("rdstls"),
        verdict("rdsaad"),
        versions,
        report
            .certificate
            .as_ref()
            .map_or_else(String::new, |c| c.sha1.clone()),
        report
            .ntlm
            .as_ref()
            .and_then(|n| n.product_version.clone())
            .unwrap_or_default(),
        report
            .credssp_version
            .map_or_else(String::new, |v| v.to_string()),
        report
            .ntlm
            .as_ref()
            .and_then(|n| n.clock_skew_seconds)
            .map_or_else(String::new, |s| s.to_string()),
        report
            .risks
            .iter()
            .map(|r| r.code.name())
            .collect::<Vec<_>>()
            .join(";"),
        report.error.clone().unwrap_or_default(),
    ]
}

impl Verdict {
    /// The stable name (JSON, CSV, the human table).
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Refused => "refused",
            Verdict::Downgraded => "downgraded",
            Verdict::Closed => "closed",
            Verdict::Timeout => "timeout",
            Verdict::Error => "error",
        }
    }
}

named!(Verdict);

impl ScanReport {
    /// Whether the server selected the security protocol `name` when offered only it.
    pub fn accepts(&self, name: &str) -> bool {
        self.protocols
            .iter()
            .any(|p| p.protocol == name && p.verdict == Verdict::Accepted)
    }
}

/// What a fleet of scans adds up to: per protocol, how many targets gave each verdict; per
/// risk, how many targets have it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Targets scanned.
    pub targets: usize,
    /// Targets that could not be scanned at all.
    pub unscanned: usize,
    /// Targets that require NLA, and that do not.
    pub nla_required: (usize, usize),
    /// `(protocol, verdict, count)`, in protocol order.
    pub protocols: Vec<(&'static str, &'static str, usize)>,
    /// `(risk, count)`, most frequent first.
    pub risks: Vec<(&'static str, usize)>,
}

impl Summary {
    /// Adds one scan.
    pub fn add(&mut self, report: &ScanReport) {
        self.targets += 1;
        self.unscanned += usize::from(report.error.is_some());
        match report.nla_required {
            Some(true) => self.nla_required.0 += 1,
            Some(false) => self.nla_required.1 += 1,
            None => {}
        }
        for p in &report.protocols {
            let verdict = p.verdict.name();
            match self
                .protocols
                .iter_mut()
                .find(|(protocol, v, _)| *protocol == p.protocol && *v == verdict)
            {
                Some(row) => row.2 += 1,
                None => self.protocols.push((p.protocol, verdict, 1)),
            }
        }
        self.protocols.sort_by_key(|(protocol, verdict, _)| {
            (
                PROTOCOLS.iter().position(|(_, name)| name == protocol),
                *verdict,
            )
        });
        for risk in &report.risks {
            match self
                .risks
                .iter_mut()
                .find(|(code, _)| *code == risk.code.name())
            {
                Some(row) => row.1 += 1,
                None => self.risks.push((risk.code.name(), 1)),
            }
        }
        self.risks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    }

    /// The summary for a terminal.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fleet: {} target(s), {} not scanned; NLA required on {}, not on {}",
            self.targets, self.unscanned, self.nla_required.0, self.nla_required.1
        );
        for (protocol, verdict, count) in &self.protocols {
            let _ = writeln!(out, "  {protocol:<10} {verdict:<11} {count}");
        }
        for (risk, count) in &self.risks {
            let _ = writeln!(out, "  risk {risk:<31} {count}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targets_file_skips_comments_and_names_its_first_bad_line() {
        let targets = read_targets(
            "t.txt",
            "# fleet\n10.0.0.5\n  rdp.example.com:3390 # gateway\n\n[::1]:3389\n",
        )
        .expect("valid");
        let names: Vec<String> = targets.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["10.0.0.5:3389", "rdp.example.com:3390", "[::1]:3389"]
        );
        let error = read_targets("t.txt", "10.0.0.5\nhost:99999\nbad line\n").expect_err("bad");
        assert!(error.starts_with("t.txt:2: "), "{error}");
    }
}
