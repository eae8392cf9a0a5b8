//! The probe pipeline: one module per stage group, and a driver that runs them in order,
//! times each stage, stops at the first failure and returns a [`Report`].

pub(crate) mod activation;
pub(crate) mod credssp;
pub mod hello;
mod icmp;
mod io;
mod net;
mod tls;
pub(crate) mod trail;
pub(crate) mod x224;

use std::time::{Duration, Instant};

use ironrdp_pdu::nego::SecurityProtocol;

use crate::cert::{CertPolicy, TrustStore};
use crate::report::{Outcome, ProbeError, Report, StageResult, StageStatus};
use crate::target::Target;
use crate::{FailureKind, Stage};

pub use io::Secret;
pub(crate) use tls::client_config as tls_client_config;

/// The security protocols to offer in the X.224 Connection Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityProtocols(SecurityProtocol);

impl SecurityProtocols {
    /// The default offer: `tls,hybrid,hybrid_ex`.
    pub fn default_offer() -> Self {
        Self(SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX)
    }

    /// An offer of exactly `protocol`.
    pub(crate) fn only(protocol: SecurityProtocol) -> Self {
        Self(protocol)
    }

    /// The raw `requestedProtocols` bits (0 = Standard RDP Security only).
    pub fn bits(self) -> u32 {
        self.0.bits()
    }

    pub(crate) fn protocol(self) -> SecurityProtocol {
        self.0
    }
}

impl Default for SecurityProtocols {
    fn default() -> Self {
        Self::default_offer()
    }
}

impl std::str::FromStr for SecurityProtocols {
    type Err = String;

    /// Parses a comma-separated list of `rdp`, `tls`, `hybrid`, `hybrid_ex`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut protocol = SecurityProtocol::empty();
        let mut any = false;
        for item in s.split(',').map(str::trim) {
            any = true;
            match item.to_ascii_lowercase().as_str() {
                "rdp" => {}
                "tls" | "ssl" => protocol |= SecurityProtocol::SSL,
                "hybrid" | "nla" => protocol |= SecurityProtocol::HYBRID,
                "hybrid_ex" => protocol |= SecurityProtocol::HYBRID_EX,
                other => {
                    return Err(format!(
                        "unknown security protocol `{other}` (expected rdp, tls, hybrid, hybrid_ex)"
                    ));
                }
            }
        }
        if !any || s.trim().is_empty() {
            return Err("empty security protocol list".to_owned());
        }
        Ok(Self(protocol))
    }
}

/// Names of the protocols set in a `SecurityProtocol` value (`rdp` when empty).
pub(crate) fn protocol_names(protocol: SecurityProtocol) -> Vec<String> {
    if protocol.is_empty() {
        return vec!["rdp".to_owned()];
    }
    let table = [
        (SecurityProtocol::SSL, "tls"),
        (SecurityProtocol::HYBRID, "hybrid"),
        (SecurityProtocol::RDSTLS, "rdstls"),
        (SecurityProtocol::HYBRID_EX, "hybrid_ex"),
        (SecurityProtocol::RDSAAD, "rdsaad"),
    ];
    let mut names: Vec<String> = table
        .iter()
        .filter(|(flag, _)| protocol.contains(*flag))
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let unknown = protocol.bits() & !table.iter().fold(0, |acc, (flag, _)| acc | flag.bits());
    if unknown != 0 {
        names.push(format!("unknown(0x{unknown:x})"));
    }
    names
}

/// User credentials for NLA. The password is never printed, logged or serialised.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Domain, if any.
    pub domain: Option<String>,
    /// Password.
    pub password: Secret,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Everything a probe needs besides the target.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Credentials for NLA; `None` means none were given.
    pub credentials: Option<Credentials>,
    /// Protocols to offer.
    pub security: SecurityProtocols,
    /// Timeout for each stage.
    pub stage_timeout: Duration,
    /// Timeout for the TCP connect.
    pub connect_timeout: Duration,
    /// Stop successfully once this stage is reached.
    pub until: Option<Stage>,
    /// Certificate policy.
    pub cert_policy: CertPolicy,
    /// Trust anchors for the certificate analysis.
    pub trust: Option<TrustStore>,
    /// Name to check the certificate against (defaults to the target host).
    pub server_name: Option<String>,
    /// Fewer days than this until the certificate expires is a warning.
    pub expiry_warning_days: i64,
    /// The pinned leaf certificate: the certificate stage passes exactly when it matches.
    pub pin: Option<crate::cert::Pin>,
    /// A known-hosts file (trust on first use, [`crate::cert::known_hosts`]): the leaf is
    /// recorded at first contact, and another certificate later is `certificate_changed`.
    pub known_hosts: Option<std::path::PathBuf>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            credentials: None,
            security: SecurityProtocols::default(),
            stage_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            until: None,
            cert_policy: CertPolicy::Default,
            trust: None,
            server_name: None,
            expiry_warning_days: 30,
            pin: None,
            known_hosts: None,
        }
    }
}

/// A stage failure before it is attached to a stage by the driver.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) Box<ProbeError>);

impl Failure {
    pub(crate) fn new(stage: Stage, kind: FailureKind, message: impl Into<String>) -> Self {
        Self(Box::new(ProbeError::new(stage, kind, message)))
    }
}

/// Signals that the `--until` stage was reached.
pub(crate) struct UntilReached;

/// Why the pipeline stopped early.
pub(crate) enum Stop {
    Failed(Failure),
    Reached(UntilReached),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failed(f)
    }
}

/// Records stage timings, details and steps as the pipeline walks the stages.
pub(crate) struct Recorder {
    results: Vec<StageResult>,
    current: Option<(Stage, Instant)>,
    until: Option<Stage>,
    stage_timeout: Duration,
    trail: trail::Trail,
}

impl Recorder {
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn new(until: Option<Stage>, stage_timeout: Duration) -> Self {
        Self::with_trail(
            until,
            stage_timeout,
            trail::Trail::new(Instant::now(), false),
        )
    }

    pub(crate) fn with_trail(
        until: Option<Stage>,
        stage_timeout: Duration,
        trail: trail::Trail,
    ) -> Self {
        Self {
            results: Stage::ALL
                .iter()
                .map(|&stage| StageResult {
                    stage,
                    status: StageStatus::NotReached,
                    elapsed_ms: None,
                    detail: None,
                    steps: Vec::new(),
                })
                .collect(),
            current: None,
            until,
            stage_timeout,
            trail,
        }
    }

    /// The probe's evidence: steps, PDUs, wire bytes.
    pub(crate) fn trail(&self) -> &trail::Trail {
        &self.trail
    }

    /// Records `step` of the current stage, now.
    pub(crate) fn step(&self, step: crate::Step, detail: Option<String>) {
        self.trail.step_at(Instant::now(), step, detail);
    }

    /// Moves the steps into their stages' results and returns the rest of the trail.
    fn take_trail(&mut self) -> trail::Finished {
        let mut finished = self.trail.finish();
        for (stage, step) in std::mem::take(&mut finished.steps) {
            self.slot(stage).steps.push(step);
        }
        finished
    }

    fn slot(&mut self, stage: Stage) -> &mut StageResult {
        let index = Stage::ALL.iter().position(|&s| s == stage).unwrap_or(0);
        &mut self.results[index]
    }

    /// Every stage's result so far.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn results(&self) -> &[StageResult] {
        &self.results
    }

    /// The stage currently running.
    pub(crate) fn current(&self) -> Option<Stage> {
        self.current.map(|(stage, _)| stage)
    }

    /// The deadline of the current stage.
    pub(crate) fn deadline(&self) -> Instant {
        self.current
            .map_or_else(Instant::now, |(_, started)| started)
            + self.stage_timeout
    }

    /// Starts `stage`, completing the current stage as ok if it is a different one.
    ///
    /// Returns `Err(UntilReached)` when `stage` is the `--until` stage.
    pub(crate) fn enter(&mut self, stage: Stage) -> Result<(), UntilReached> {
        if self.current() == Some(stage) {
            return Ok(());
        }
        self.finish_current(StageStatus::Ok);
        if self.until == Some(stage) {
            return Err(UntilReached);
        }
        self.current = Some((stage, Instant::now()));
        self.trail.set_stage(stage);
        Ok(())
    }

    /// Marks a stage that does not apply to this connection.
    pub(crate) fn skip(
        &mut self,
        stage: Stage,
        detail: impl Into<String>,
    ) -> Result<(), UntilReached> {
        self.finish_current(StageStatus::Ok);
        if self.until == Some(stage) {
            return Err(UntilReached);
        }
        self.slot(stage).status = StageStatus::Skipped;
        self.detail(stage, detail);
        Ok(())
    }

    /// Sets (replaces) the detail line of a stage, [escaped](crate::text::escape): details
    /// quote what servers send.
    pub(crate) fn detail(&mut self, stage: Stage, detail: impl Into<String>) {
        self.slot(stage).detail = Some(crate::text::escape_owned(detail.into()));
    }

    fn finish_current(&mut self, status: StageStatus) {
        if let Some((stage, started)) = self.current.take() {
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let slot = self.slot(stage);
            slot.status = status;
            slot.elapsed_ms = Some(elapsed);
        }
    }
}

/// Mutable facts collected along the way, moved into the report at the end.
#[derive(Default)]
pub(crate) struct Facts {
    pub(crate) address: Option<String>,
    pub(crate) negotiation: Option<crate::report::Negotiation>,
    pub(crate) tls: Option<crate::report::TlsInfo>,
    pub(crate) certificate: Option<crate::report::CertificateInfo>,
    pub(crate) credssp: Option<crate::report::CredsspInfo>,
    /// Whether the NTLM AUTHENTICATE message (or anything later) left the client.
    pub(crate) credentials_sent: bool,
    pub(crate) warnings: Vec<String>,
}

/// Probes `target`: performs a real client-side RDP connection and reports every stage.
///
/// Never panics on anything the server sends; every network wait is bounded by the
/// options' timeouts.
pub async fn probe(target: &Target, options: &ProbeOptions) -> Report {
    probe_with_trail(target, options, false).await.0
}

/// [`probe`], keeping what a capture of the connection needs: the bytes on the wire with
/// their times and the TLS secrets ([`crate::capture::Capture::pcapng`] writes the file).
pub async fn probe_with_capture(
    target: &Target,
    options: &ProbeOptions,
) -> (Report, crate::capture::Capture) {
    let (report, capture) = probe_with_trail(target, options, true).await;
    (
        report,
        capture.expect("a capturing probe keeps its capture"),
    )
}

/// [`probe`], and the capture when `capture` is set.
async fn probe_with_trail(
    target: &Target,
    options: &ProbeOptions,
    capture: bool,
) -> (Report, Option<crate::capture::Capture>) {
    let started = Instant::now();
    let started_wall = std::time::SystemTime::now();
    if tls::needs_system_roots(options) && !TrustStore::system_loaded() {
        // Load the system roots while TCP and X.224 run, not inside the certificate stage.
        drop(tokio::task::spawn_blocking(TrustStore::system));
    }
    let mut rec = Recorder::with_trail(
        options.until,
        options.stage_timeout,
        trail::Trail::new(started, capture),
    );
    let mut facts = Facts::default();
    let trail = rec.trail().clone();
    let result = tls::with_key_log(trail, run(target, options, &mut rec, &mut facts)).await;

    let (outcome, error) = match result {
        Ok(()) => {
            let _ = rec.enter(Stage::Connected);
            let slot = rec.slot(Stage::Connected);
            slot.status = StageStatus::Ok;
            slot.elapsed_ms = Some(0.0);
            rec.current = None;
            (Outcome::Connected, None)
        }
        Err(Stop::Reached(UntilReached)) => (Outcome::Reached, None),
        Err(Stop::Failed(Failure(error))) => {
            let mut error = *error;
            error.after_step = rec.trail.last_step();
            // In the connection sequence the step is the last PDU: say which.
            if error.stage >= Stage::BasicSettings
                && matches!(error.kind, FailureKind::ClosedByPeer | FailureKind::Timeout)
            {
                if let Some(label) = rec.trail.last_step_label() {
                    error.message = format!("{} (last step: {label})", error.message);
                }
            }
            rec.finish_current(StageStatus::Failed);
            let slot = rec.slot(error.stage);
            slot.status = StageStatus::Failed;
            (Outcome::Failed, Some(error))
        }
    };

    let diagnosis = error
        .as_ref()
        .and_then(|error| crate::diagnosis::diagnose(&error.key()));
    let trail = rec.take_trail();
    let server_closed = error
        .as_ref()
        .is_some_and(|e| e.kind == FailureKind::ClosedByPeer);
    let ended = Instant::now();
    let report = Report {
        target: target.to_string(),
        address: facts.address,
        outcome,
        failed_stage: error.as_ref().map(|e| e.stage),
        until: options.until,
        total_ms: started.elapsed().as_secs_f64() * 1000.0,
        stages: rec.results,
        error,
        negotiation: facts.negotiation,
        tls: facts.tls,
        certificate: facts.certificate,
        credssp: facts.credssp,
        credentials_sent: facts.credentials_sent,
        warnings: facts.warnings,
        not_honoured: Vec::new(),
        diagnosis,
        trace: trail.trace,
    };
    let capture = trail.wire.map(|chunks| crate::capture::Capture {
        started,
        started_wall,
        connected: trail.connected,
        chunks,
        keys: trail.keys,
        ended,
        server_closed,
        comment: format!("rdpscope: {}", report.verdict()),
    });
    (report, capture)
}

/// Why the certificate does not vouch for the server CredSSP is about to authenticate to,
/// if it does not: its analysis found errors (the policy let them pass: `warn`), or it was
/// not analysed (`ignore`). `None` when a `--pin` matched: the pin proves the identity.
fn certificate_doubt(
    options: &ProbeOptions,
    certificate: Option<&crate::report::CertificateInfo>,
) -> Option<String> {
    let Some(info) = certificate else {
        return (options.cert_policy == CertPolicy::Ignore).then(|| {
            "credentials were sent to a server whose certificate was not checked (--cert-policy ignore)"
                .to_owned()
        });
    };
    if info.pin_matched == Some(true) {
        return None;
    }
    let errors: Vec<&str> = info
        .findings
        .iter()
        .filter(|f| f.severity == crate::report::Severity::Error)
        .map(|f| f.code.name())
        .collect();
    (!errors.is_empty()).then(|| {
        format!(
            "credentials were sent to a server whose certificate has errors: {} (--cert-policy {})",
            errors.join(", "),
            options.cert_policy.name()
        )
    })
}

async fn run(
    target: &Target,
    options: &ProbeOptions,
    rec: &mut Recorder,
    facts: &mut Facts,
) -> Result<(), Stop> {
    let addresses = net::resolve(target, rec).await?;
    let (tcp, address) = match net::connect(&addresses, options.connect_timeout, rec, facts).await?
    {
        net::Connected::Stream(tcp, address) => (tcp, address),
        net::Connected::EndedAtOnce(error) => {
            // The same verdict as when the reset or close shows up while sending the
            // request or waiting for the confirm: which one the client sees is timing.
            rec.enter(Stage::X224).map_err(Stop::Reached)?;
            return Err(x224::ended_before_answer(&error).into());
        }
    };
    // IronRDP uses the client address only for the Client Info PDU's clientAddress; a
    // socket the server already reset may have none.
    let client_addr = tcp.local_addr().unwrap_or_else(|error| {
        tracing::debug!(%error, "No local address, the Client Info PDU carries the unspecified one");
        let unspecified: std::net::IpAddr = if address.is_ipv6() {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        };
        std::net::SocketAddr::new(unspecified, 0)
    });
    let mut connector = activation::new_connector(options, client_addr);
    rec.trail().connected(client_addr, address);
    let tcp = rec.trail().tap(tcp, trail::Layer::Wire);

    let (tcp, selected) = x224::negotiate(tcp, &mut connector, options, rec, facts).await?;

    if selected.is_empty() {
        // Standard RDP Security: no TLS, no certificate, no CredSSP.
        rec.skip(Stage::Tls, "Standard RDP Security selected: no TLS")
            .map_err(Stop::Reached)?;
        rec.skip(
            Stage::Certificate,
            "no TLS certificate under Standard RDP Security",
        )
        .map_err(Stop::Reached)?;
        rec.skip(Stage::Credssp, "no NLA under Standard RDP Security")
            .map_err(Stop::Reached)?;
        connector.mark_security_upgrade_as_done();
        let mut framed = crate::framing::framed(tcp);
        return activation::run(&mut framed, &mut connector, rec).await;
    }

    let tls::Upgraded { stream, leaf } =
        tls::upgrade(tcp, (address, selected), target, options, rec, facts).await?;
    connector.mark_security_upgrade_as_done();
    let mut framed = crate::framing::framed(rec.trail().tap(stream, trail::Layer::Plain));

    if connector.should_perform_credssp() {
        rec.enter(Stage::Credssp).map_err(Stop::Reached)?;
        let doubt = certificate_doubt(options, facts.certificate.as_ref());
        let result = credssp::run(
            &mut framed,
            &mut connector,
            target,
            tls::public_key(leaf.as_ref()),
            options,
            rec,
            facts,
        )
        .await;
        if let Some(doubt) = doubt.filter(|_| facts.credentials_sent) {
            tracing::info!(warning = %doubt, "Credentials sent to a doubtful server");
            facts.warnings.push(doubt);
        }
        result?;
        connector.mark_credssp_as_done();
    } else {
        // TLS security: the server shows its graphical logon; the Client Info PDU carries
        // the user name only (see `activation::new_connector`).
        rec.skip(Stage::Credssp, "server selected TLS without NLA")
            .map_err(Stop::Reached)?;
    }

    activation::run(&mut framed, &mut connector, rec).await
}

#[cfg(test)]
mod tests {
    /// A probe's state is what each connection in flight costs in memory (`rdpscope bench
    /// --concurrency 10000`): it stays small. It was 49 KB while `with_key_log` held the
    /// probe twice and the failed-handshake check's buffers sat in every probe.
    #[test]
    fn a_probe_in_flight_is_small() {
        let target: crate::target::Target = "127.0.0.1:3389".parse().expect("target");
        let options = super::ProbeOptions::default();
        let probe = super::probe(&target, &options);
        let size = std::mem::size_of_val(&probe);
        assert!(size < 12 * 1024, "a probe future is {size} bytes");
    }
}
