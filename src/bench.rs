//! Connection-setup benchmark: a load generator that runs many real probes (or, for the
//! baseline, raw TLS handshakes) with bounded concurrency, and reports throughput, latency per
//! stage (HDR histograms), errors by stage and kind, and memory per concurrent connection.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::io::AsyncReadExt as _;
use tokio::sync::oneshot;
use tracing::warn;

use crate::affinity::Placement;
use crate::report::{Outcome, StageStatus};
use crate::target::Target;
use crate::{FailureKind, ProbeOptions, Stage};

/// How to load the target.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Connections to make in total (ignored when `duration` is set).
    pub connections: usize,
    /// Connections in flight at once.
    pub concurrency: usize,
    /// Run for this long instead of a fixed number of connections.
    pub duration: Option<Duration>,
    /// The probe options of every connection (`until`, security, credentials, timeouts).
    pub probe: ProbeOptions,
    /// Print progress on stderr.
    pub progress: bool,
    /// Load-generator threads (each a single-threaded runtime driving its share of the
    /// concurrency); `None` chooses: every core against a target, every core but the one the
    /// in-process server runs on against the built-in server.
    pub threads: Option<usize>,
    /// With a baseline: the number of short rounds the connections (or the duration) are
    /// split into, each running every target and the baseline in turn, so that the machine's
    /// drift lands on both sides of each ratio; `None`: about 50 connections (or 250 ms) per
    /// round, at most 40 rounds.
    pub rounds: Option<usize>,
    /// Against the built-in servers: keep the load threads and the server threads to CPUs
    /// of their own ([`Placement::split`]); false leaves them to the scheduler.
    pub affinity: bool,
}

/// The load-generator threads to use when none are given: the available cores, less
/// `reserved` for in-process servers, at least one.
pub fn default_threads(reserved: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .saturating_sub(reserved)
        .max(1)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Latency {
    fn from(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            mean_ms: histogram.mean() / 1000.0,
        }
    }
}

/// Failures of one stage and kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorGroup {
    /// The stage.
    pub stage: Stage,
    /// The kind.
    pub kind: FailureKind,
    /// How many.
    pub count: u64,
    /// One message, as an example.
    pub example: String,
}

/// Memory while the load ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory {
    /// Resident set size before the load, KiB.
    pub baseline_rss_kib: u64,
    /// Highest resident set size during the load, KiB.
    pub peak_rss_kib: u64,
    /// (peak − baseline) / concurrency, KiB: client and any in-process server together.
    pub per_connection_kib: f64,
}

/// The result of one load run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadResult {
    /// What was loaded (a target, a scenario, or the TLS baseline).
    pub label: String,
    /// Connections attempted.
    pub connections: u64,
    /// Connections that reached the end stage.
    pub succeeded: u64,
    /// Concurrency.
    pub concurrency: usize,
    /// Load-generator threads.
    pub threads: usize,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// Successful connections (handshakes) per second.
    pub handshakes_per_second: f64,
    /// Latency to the end stage, successful connections only.
    pub end_to_end: Latency,
    /// Latency of each stage that ran.
    pub stages: Vec<(Stage, Latency)>,
    /// Failures by stage and kind.
    pub errors: Vec<ErrorGroup>,
    /// The distinct warnings of the connections (e.g. credentials sent to a server whose
    /// certificate has errors).
    pub warnings: Vec<String>,
    /// Memory, where the platform tells.
    pub memory: Option<Memory>,
}

/// One connection's outcome, as the load generator records it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Whether it reached the end stage.
    pub ok: bool,
    /// Wall time of the whole connection.
    pub total: Duration,
    /// Time of each stage that ran.
    pub stages: Vec<(Stage, Duration)>,
    /// The failure, if any.
    pub error: Option<(Stage, FailureKind, String)>,
    /// The report's warnings.
    pub warnings: Vec<String>,
}

#[derive(Default)]
struct Collector {
    end_to_end: Option<Histogram<u64>>,
    stages: BTreeMap<Stage, Histogram<u64>>,
    errors: BTreeMap<(Stage, String), ErrorGroup>,
    warnings: std::collections::BTreeSet<String>,
    attempted: u64,
    succeeded: u64,
}

fn histogram() -> Histogram<u64> {
    // Microseconds, three significant figures, grows as needed.
    Histogram::new(3)
        .unwrap_or_else(|_| Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Collector {
    /// Adds what `other` collected.
    fn merge(&mut self, other: Collector) {
        match (&mut self.end_to_end, other.end_to_end) {
            (Some(mine), Some(theirs)) => {
                let _ = mine.add(theirs);
            }
            (mine @ None, theirs) => *mine = theirs,
            _ => {}
        }
        for (stage, theirs) in other.stages {
            match self.stages.get_mut(&stage) {
                Some(mine) => {
                    let _ = mine.add(theirs);
                }
                None => {
                    self.stages.insert(stage, theirs);
                }
            }
        }
        for (key, group) in other.errors {
            self.errors
                .entry(key)
                .and_modify(|mine| mine.count += group.count)
                .or_insert(group);
        }
        self.warnings.extend(other.warnings);
        self.attempted += other.attempted;
        self.succeeded += other.succeeded;
    }

    fn record(&mut self, sample: Sample) {
        self.attempted += 1;
        if sample.ok {
            self.succeeded += 1;
            let _ = self
                .end_to_end
                .get_or_insert_with(histogram)
                .record(micros(sample.total));
        }
        for (stage, elapsed) in sample.stages {
            let _ = self
                .stages
                .entry(stage)
                .or_insert_with(histogram)
                .record(micros(elapsed));
        }
        self.warnings.extend(sample.warnings);
        if let Some((stage, kind, message)) = sample.error {
            self.errors
                .entry((stage, kind.name().to_owned()))
                .or_insert(ErrorGroup {
                    stage,
                    kind,
                    count: 0,
                    example: message,
                })
                .count += 1;
        }
    }
}

/// Resident set size of this process in KiB (Linux), `None` elsewhere.
fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// What every connection loop of one load run shares.
struct Shared<F> {
    connect: F,
    collector: Mutex<Collector>,
    /// Connections started (counts towards `total` when there is no deadline).
    issued: AtomicUsize,
    /// Connections finished (for the progress line).
    done: AtomicUsize,
    total: usize,
    deadline: Option<Instant>,
}

impl<F, Fut> Shared<F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Sample>,
{
    /// One connection after the other until the count or the deadline is reached.
    async fn connections(&self) {
        loop {
            match self.deadline {
                Some(deadline) if Instant::now() >= deadline => break,
                Some(_) => {}
                None if self.issued.fetch_add(1, Ordering::Relaxed) >= self.total => break,
                None => {}
            }
            let sample = (self.connect)().await;
            if let Ok(mut collector) = self.collector.lock() {
                collector.record(sample);
            }
            self.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs `connect` `options.connections` times (or for `options.duration`) with
/// `options.concurrency` in flight, and collects the results. Without `options.threads` it
/// uses every core ([`run`] is what leaves one to in-process servers).
pub async fn load<F, Fut>(
    label: String,
    options: &BenchOptions,
    connect: F,
) -> std::io::Result<LoadResult>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Sample> + Send,
{
    let ran = load_round(options, None, "load", connect).await?;
    Ok(ran.collector.into_result(
        label,
        options.concurrency,
        ran.threads,
        ran.elapsed,
        ran.memory,
    ))
}

/// What one load run collected.
struct Ran {
    collector: Collector,
    elapsed: Duration,
    threads: usize,
    memory: Option<Memory>,
}

impl Ran {
    /// Successful connections per second.
    fn rate(&self) -> f64 {
        self.collector.succeeded as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// This run and `other` as one (the rounds of one target).
    fn merge(mut self, other: Ran) -> Ran {
        self.collector.merge(other.collector);
        self.elapsed += other.elapsed;
        self.memory = match (self.memory, other.memory) {
            (Some(a), Some(b)) if b.peak_rss_kib > a.peak_rss_kib => Some(b),
            (a, b) => a.or(b),
        };
        self
    }
}

/// One run of `connect` as `options` say, on load threads named `TAG-N` (kept to the CPUs
/// `placement` gives them).
async fn load_round<F, Fut>(
    options: &BenchOptions,
    placement: Option<&Placement>,
    tag: &str,
    connect: F,
) -> std::io::Result<Ran>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Sample> + Send,
{
    let total = options.connections;
    let deadline = options.duration.map(|d| Instant::now() + d);
    let shared = Arc::new(Shared {
        connect,
        collector: Mutex::new(Collector::default()),
        issued: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        total,
        deadline,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let memory = MemorySampler::start(&stop);
    let progress = options.progress.then(|| {
        progress_line(
            &stop,
            Arc::clone(&shared),
            deadline.is_none().then_some(total),
        )
    });

    let concurrency = options.concurrency.max(1);
    let threads = options
        .threads
        .unwrap_or_else(|| default_threads(0))
        .clamp(1, concurrency);
    let started = Instant::now();
    let ran = run_load_threads(&shared, placement, tag, concurrency, threads).await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let memory = memory.finish(options.concurrency.max(1));
    if let Some(progress) = progress {
        let _ = progress.join();
    }
    ran?;

    let collector = shared
        .collector
        .lock()
        .map(|mut c| std::mem::take(&mut *c))
        .unwrap_or_default();
    Ok(Ran {
        collector,
        elapsed,
        threads,
        memory,
    })
}

/// The load on `threads` threads of its own, each a single-threaded runtime with its share
/// of the concurrency: no work stealing between connections, and no competition with the
/// runtime (or the in-process server) that called us. Returns once every connection loop
/// has ended.
async fn run_load_threads<F, Fut>(
    shared: &Arc<Shared<F>>,
    placement: Option<&Placement>,
    tag: &str,
    concurrency: usize,
    threads: usize,
) -> std::io::Result<()>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Sample> + Send,
{
    let mut handles = Vec::with_capacity(threads);
    for thread in 0..threads {
        let share = concurrency / threads + usize::from(thread < concurrency % threads);
        let shared = Arc::clone(shared);
        let (finished, finished_rx) = oneshot::channel::<()>();
        let cpu = placement.map(|placement| placement.load_cpu(thread));
        let handle = std::thread::Builder::new()
            .name(format!("{tag}-{thread}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(error) = crate::affinity::pin_current_thread(cpu) {
                        warn!(cpu, %error, "Cannot keep a load thread to its CPU");
                    }
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let mut loops = tokio::task::JoinSet::new();
                    for _ in 0..share {
                        let shared = shared.clone();
                        loops.spawn(async move { shared.connections().await });
                    }
                    while loops.join_next().await.is_some() {}
                });
                let _ = finished.send(());
                Ok::<(), std::io::Error>(())
            });
        handles.push((handle, finished_rx));
    }
    let mut failure = None;
    for (handle, finished) in handles {
        match handle {
            Ok(handle) => {
                let _ = finished.await;
                if let Ok(Err(e)) = handle.join() {
                    failure = Some(e);
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Samples the process's resident memory every 5 ms on its own thread (a busy runtime
/// cannot starve it) until `stop`, keeping the peak.
struct MemorySampler {
    baseline_kib: Option<u64>,
    peak_kib: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl MemorySampler {
    fn start(stop: &Arc<AtomicBool>) -> Self {
        let baseline_kib = rss_kib();
        let peak_kib = Arc::new(AtomicUsize::new(
            usize::try_from(baseline_kib.unwrap_or(0)).unwrap_or(0),
        ));
        let thread = {
            let stop = Arc::clone(stop);
            let peak = Arc::clone(&peak_kib);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = rss_kib() {
                        peak.fetch_max(
                            usize::try_from(rss).unwrap_or(usize::MAX),
                            Ordering::Relaxed,
                        );
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Self {
            baseline_kib,
            peak_kib,
            thread,
        }
    }

    /// The figures, once `stop` is set: baseline, peak, and the growth per connection in
    /// flight.
    fn finish(self, in_flight: usize) -> Option<Memory> {
        let _ = self.thread.join();
        self.baseline_kib.map(|baseline| {
            let peak = self.peak_kib.load(Ordering::Relaxed) as u64;
            Memory {
                baseline_rss_kib: baseline,
                peak_rss_kib: peak,
                per_connection_kib: peak.saturating_sub(baseline) as f64 / in_flight as f64,
            }
        })
    }
}

/// A progress line on stderr (connections done, of `total` if known, and the rate),
/// redrawn every 200 ms until `stop`, then erased.
fn progress_line<F>(
    stop: &Arc<AtomicBool>,
    shared: Arc<Shared<F>>,
    total: Option<usize>,
) -> std::thread::JoinHandle<()>
where
    F: Send + Sync + 'static,
{
    let stop = Arc::clone(stop);
    let started = Instant::now();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let n = shared.done.load(Ordering::Relaxed);
            let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let of = total.map_or_else(String::new, |total| format!("/{total}"));
            eprint!("\r\x1b[2K  {n}{of} connections, {rate:.0}/s");
            std::thread::sleep(Duration::from_millis(200));
        }
        eprint!("\r\x1b[2K");
    })
}

impl Collector {
    /// The result of a run that took `elapsed`.
    fn into_result(
        self,
        label: String,
        concurrency: usize,
        threads: usize,
        elapsed: Duration,
        memory: Option<Memory>,
    ) -> LoadResult {
        LoadResult {
            label,
            connections: self.attempted,
            succeeded: self.succeeded,
            concurrency,
            threads,
            elapsed_s: elapsed.as_secs_f64(),
            handshakes_per_second: self.succeeded as f64 / elapsed.as_secs_f64().max(1e-9),
            end_to_end: self.end_to_end.as_ref().map_or(
                Latency {
                    count: 0,
                    p50_ms: 0.0,
                    p90_ms: 0.0,
                    p99_ms: 0.0,
                    max_ms: 0.0,
                    mean_ms: 0.0,
                },
                Latency::from,
            ),
            stages: self
                .stages
                .iter()
                .map(|(stage, h)| (*stage, Latency::from(h)))
                .collect(),
            errors: self.errors.into_values().collect(),
            warnings: self.warnings.into_iter().collect(),
            memory,
        }
    }
}

/// One probe as a [`Sample`].
pub async fn probe_sample(target: &Target, options: &ProbeOptions) -> Sample {
    let report = crate::probe(target, options).await;
    Sample {
        ok: matches!(report.outcome, Outcome::Connected | Outcome::Reached),
        total: Duration::from_secs_f64(report.total_ms / 1000.0),
        stages: report
            .stages
            .iter()
            .filter(|s| {
                matches!(s.status, StageStatus::Ok | StageStatus::Failed)
                    && s.stage != Stage::Connected
            })
            .filter_map(|s| {
                s.elapsed_ms
                    .map(|ms| (s.stage, Duration::from_secs_f64(ms / 1000.0)))
            })
            .collect(),
        error: report.error.map(|e| (e.stage, e.kind, e.message)),
        warnings: report.warnings,
    }
}

/// The bytes of one connection, as a probe's PDU trail recorded them: what the client
/// wrote before it waited, and what it then read, exchange after exchange, before the TLS
/// handshake and inside it. A [`BaselineServer`] and [`BaselineServer::connection`] replay
/// exactly these byte counts with no RDP work at all (zeros, nothing parsed): the wire floor
/// of that connection, what any client pays for its round trips and bytes on this machine.
/// Without exchanges it is the raw TLS handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Wire {
    /// The exchanges before the TLS handshake (X.224).
    pub plain: Vec<Exchange>,
    /// Whether there is a TLS handshake.
    pub tls: bool,
    /// The exchanges inside TLS (CredSSP, MCS, licensing, activation), in plaintext bytes.
    pub encrypted: Vec<Exchange>,
}

/// One exchange of a [`Wire`]: the client writes `sent` bytes, then reads `received`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// Bytes the client writes.
    pub sent: usize,
    /// Bytes the server answers with.
    pub received: usize,
}

impl Wire {
    /// TCP connect and a full TLS handshake, nothing else: the `--baseline tls` loop.
    pub fn tls_handshake() -> Self {
        Self {
            tls: true,
            ..Self::default()
        }
    }

    /// The wire of a probe that reached its end, from its PDU trail; `None` otherwise.
    pub fn of(report: &crate::Report) -> Option<Self> {
        if !matches!(report.outcome, Outcome::Connected | Outcome::Reached) {
            return None;
        }
        let tls = report
            .stages
            .iter()
            .any(|s| s.stage == Stage::Tls && s.status == StageStatus::Ok);
        Some(Self::from_trace(tls, &report.trace))
    }

    /// The exchanges of `trace`: the client's writes up to its next read are one exchange's
    /// `sent`, what it reads until it writes again its `received`; with `tls`, the entries
    /// after the tls stage are inside TLS, and the handshake's own records are left out.
    fn from_trace(tls: bool, trace: &[crate::report::TraceEntry]) -> Self {
        let mut wire = Self {
            tls,
            ..Self::default()
        };
        for entry in trace {
            // The handshake's own records are the TLS handshake's business.
            if entry.stage == Stage::Tls {
                continue;
            }
            let exchanges = if tls && entry.stage > Stage::Tls {
                &mut wire.encrypted
            } else {
                &mut wire.plain
            };
            match (entry.direction, exchanges.last_mut()) {
                (crate::report::Direction::Received, Some(last)) => last.received += entry.size,
                (crate::report::Direction::Sent, Some(last)) if last.received == 0 => {
                    last.sent += entry.size;
                }
                (crate::report::Direction::Received, None) => exchanges.push(Exchange {
                    sent: 0,
                    received: entry.size,
                }),
                (crate::report::Direction::Sent, _) => exchanges.push(Exchange {
                    sent: entry.size,
                    received: 0,
                }),
            }
        }
        wire
    }

    /// The exchanges, before TLS and inside it.
    pub fn exchanges(&self) -> usize {
        self.plain.len() + self.encrypted.len()
    }

    /// The bytes of the exchanges, both ways.
    pub fn bytes(&self) -> usize {
        self.plain
            .iter()
            .chain(&self.encrypted)
            .map(|e| e.sent + e.received)
            .sum()
    }
}

/// A server on loopback that answers a [`Wire`]'s exchanges with zeros, with the TLS
/// handshake of the mock RDP servers between them (same certificate and key type:
/// self-signed ECDSA P-256, the same TLS configuration): the server side of the baselines.
pub struct BaselineServer {
    server: crate::mock::ServerThread,
    wire: Arc<Wire>,
}

impl BaselineServer {
    /// Starts the server on 127.0.0.1:0, on one thread with a current-thread runtime (as the
    /// mock servers run).
    pub async fn start(wire: Wire) -> std::io::Result<Self> {
        let identity = crate::mock::cert::default_identity()?;
        let acceptor =
            tokio_rustls::TlsAcceptor::from(crate::mock::cert::server_config(&identity)?);
        let listener = crate::mock::listener(([127, 0, 0, 1], 0).into())?;
        // The same accept loop as the mock servers; each connection: the exchanges, then
        // wait for the client to close.
        let name = if wire.exchanges() == 0 {
            "server-tls"
        } else {
            "server-floor"
        };
        let wire = Arc::new(wire);
        let server = crate::mock::ServerThread::start(
            name.to_owned(),
            listener,
            (acceptor, Arc::clone(&wire)),
            |state, tcp, _| async move {
                let (acceptor, wire) = &*state;
                let _ = tokio::time::timeout(Duration::from_secs(30), async {
                    tcp.set_nodelay(true)?;
                    let mut tcp = tcp;
                    answer(&mut tcp, &wire.plain).await?;
                    let mut sink = [0u8; 64];
                    if wire.tls {
                        let mut tls = acceptor.accept(tcp).await?;
                        answer(&mut tls, &wire.encrypted).await?;
                        tls.read(&mut sink).await
                    } else {
                        tcp.read(&mut sink).await
                    }
                })
                .await;
            },
        )?;
        Ok(Self { server, wire })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The exchanges the server answers.
    pub fn wire(&self) -> &Wire {
        &self.wire
    }

    /// Keeps the server's thread to `cpu`.
    pub(crate) fn pin(&self, cpu: usize) -> std::io::Result<()> {
        self.server.pin(cpu)
    }

    /// One connection to a server started with `wire`: TCP connect, the exchanges, the TLS
    /// handshake with the probe's own TLS configuration (no resumption, the same signature
    /// checks), the exchanges inside it; then the client drops the connection. As a
    /// [`Sample`] whose tls stage is the handshake.
    pub async fn connection(addr: SocketAddr, wire: &Wire) -> Sample {
        let started = Instant::now();
        let mut stages = Vec::new();
        let result = tokio::time::timeout(Duration::from_secs(10), async {
            let failed = |stage: Stage, kind: FailureKind| {
                move |e: std::io::Error| (stage, kind, e.to_string())
            };
            let mut tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(failed(Stage::Tcp, FailureKind::Refused))?;
            tcp.set_nodelay(true)
                .map_err(failed(Stage::Tcp, FailureKind::Internal))?;
            ask(&mut tcp, &wire.plain)
                .await
                .map_err(failed(Stage::X224, FailureKind::ProtocolError))?;
            if wire.tls {
                let handshake = Instant::now();
                let connector = tokio_rustls::TlsConnector::from(crate::probe::tls_client_config());
                let name = ServerName::IpAddress(addr.ip().into());
                let mut tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(failed(Stage::Tls, FailureKind::TlsError))?;
                stages.push((Stage::Tls, handshake.elapsed()));
                ask(&mut tls, &wire.encrypted)
                    .await
                    .map_err(failed(Stage::BasicSettings, FailureKind::ProtocolError))?;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|_| {
            Err((
                Stage::Tls,
                FailureKind::Timeout,
                "baseline connection timed out".to_owned(),
            ))
        });
        Sample {
            ok: result.is_ok(),
            total: started.elapsed(),
            stages,
            error: result.err(),
            warnings: Vec::new(),
        }
    }
}

/// Zeros, as much as one write of an exchange needs.
fn zeros(len: usize) -> Vec<u8> {
    vec![0; len]
}

/// The client's side of `exchanges`: write, then read what the server answers.
async fn ask<S>(stream: &mut S, exchanges: &[Exchange]) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt as _;
    for exchange in exchanges {
        stream.write_all(&zeros(exchange.sent)).await?;
        stream.read_exact(&mut zeros(exchange.received)).await?;
    }
    Ok(())
}

/// The server's side of `exchanges`: read what the client writes, then answer.
async fn answer<S>(stream: &mut S, exchanges: &[Exchange]) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt as _;
    for exchange in exchanges {
        stream.read_exact(&mut zeros(exchange.sent)).await?;
        stream.write_all(&zeros(exchange.received)).await?;
    }
    Ok(())
}

/// Every run of `rdpscope bench`, the baselines, and the ratios to them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// One run per target or scenario.
    pub runs: Vec<LoadResult>,
    /// The raw TLS handshake loop, with a baseline.
    pub baseline: Option<LoadResult>,
    /// With `--baseline wire`: each run's wire floor (its exchanges replayed with no RDP
    /// work), in the order of `runs`.
    pub floors: Vec<WireFloor>,
    /// Each run's handshake rate divided by the TLS baseline's (the headline figure): the
    /// interquartile mean of the rounds' ratios ([`RatioSpread::mean`]).
    pub ratios: Vec<(String, f64)>,
    /// Each ratio per round, with their interquartile mean, median and range: every run to
    /// the TLS baseline, and with wire floors, every run to its floor and every floor to the
    /// TLS baseline.
    pub spreads: Vec<RatioSpread>,
    /// The CPUs the load and the in-process servers were kept to (`None`: the scheduler's
    /// choice).
    pub placement: Option<Placement>,
}

/// One run's wire floor: the bytes it replays, and its load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireFloor {
    /// The exchanges, from a probe of the run's target.
    pub wire: Wire,
    /// The load.
    pub result: LoadResult,
}

/// One run's ratio to a baseline in each interleaved round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioSpread {
    /// The run.
    pub label: String,
    /// What it is divided by: `tls` (the raw TLS handshake) or `wire` (its wire floor).
    pub against: Baseline,
    /// The headline: the interquartile mean of the rounds' ratios (the mean of the middle
    /// half). On this two-core VM the rounds of a HYBRID_EX run fall into two groups
    /// (client-bound and server-bound), and a median jumps between them from run to run
    /// (eight runs: 0.46 to 0.54) where the middle half's mean moves less (0.48 to 0.52);
    /// like the median, it ignores a round a neighbour disturbed.
    pub mean: f64,
    /// The median of the rounds' ratios.
    pub median: f64,
    /// The smallest round ratio.
    pub min: f64,
    /// The largest round ratio.
    pub max: f64,
    /// Every round's ratio, in order.
    pub rounds: Vec<f64>,
}

impl RatioSpread {
    /// The ratios of `rates` to `baseline`'s, round by round.
    fn new(label: String, against: Baseline, rates: &[f64], baseline: &[f64]) -> Self {
        let ratios: Vec<f64> = rates
            .iter()
            .zip(baseline)
            .map(|(rate, base)| rate / base.max(1e-9))
            .collect();
        Self {
            label,
            against,
            mean: interquartile_mean(&ratios),
            median: median(&ratios),
            min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            max: ratios.iter().copied().fold(0.0, f64::max),
            rounds: ratios,
        }
    }
}

/// What a benchmark compares its runs with, measured in the same run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// A raw TLS handshake loop (TCP connect and a full TLS handshake, the same certificate
    /// and key type, the probe's TLS configuration): the floor of any RDP connection over TLS.
    Tls,
    /// The TLS handshake loop, and for each run its wire floor: the same exchanges, bytes and
    /// round trips as the run's connections, replayed with no RDP work.
    Wire,
}

/// The mean of the middle half of `values` (a quarter of them dropped at each end, rounded
/// down; all of them when fewer than four); 0 when empty.
fn interquartile_mean(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted.len() / 4;
    let middle = &sorted[cut..sorted.len() - cut];
    if middle.is_empty() {
        return 0.0;
    }
    middle.iter().sum::<f64>() / middle.len() as f64
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl BenchReport {
    /// The distinct warnings of every run.
    pub fn warnings(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .runs
            .iter()
            .flat_map(|r| r.warnings.iter().map(String::as_str))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// A run (the baseline included) in which no connection reached the end stage, with
    /// the stage most of its connections failed at (`None` when none even failed).
    /// Such a run measured nothing: the benchmark has failed.
    pub fn empty_run(&self) -> Option<(&LoadResult, Option<Stage>)> {
        self.runs
            .iter()
            .chain(self.floors.iter().map(|floor| &floor.result))
            .chain(self.baseline.iter())
            .find(|run| run.succeeded == 0)
            .map(|run| {
                let stage = run
                    .errors
                    .iter()
                    .max_by_key(|group| group.count)
                    .map(|group| group.stage);
                (run, stage)
            })
    }
}

/// Raises this process's open-files limit (soft, and the hard one where allowed: as root)
/// towards `needed`, so that a high `--concurrency` is limited by the machine, not by a
/// default of 1,024. What it cannot raise shows up as `tcp/internal` "Too many open files"
/// errors in the run's report.
fn raise_open_files(needed: u64) {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
            || limit.rlim_cur >= needed
        {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: needed,
            rlim_max: limit.rlim_max.max(needed),
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } != 0 {
            // Not allowed to raise the hard limit: as far as it goes.
            let soft = libc::rlimit {
                rlim_cur: limit.rlim_max.min(needed),
                rlim_max: limit.rlim_max,
            };
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) };
        }
        tracing::debug!(needed, "Raised the open-files limit");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = needed;
}

/// One load of a round: a run, a run's wire floor, or the TLS baseline.
#[derive(Clone, Copy)]
enum Load {
    Run(usize),
    Floor(usize),
    Tls,
}

/// Runs the benchmark: against `target`, or else against each built-in scenario in-process;
/// with `baseline`, also the raw TLS handshake loop (and with [`Baseline::Wire`] each run's
/// wire floor) with the same options, in interleaved rounds.
pub async fn run(
    target: Option<Target>,
    scenarios: &[crate::mock::Scenario],
    baseline: Option<Baseline>,
    options: &BenchOptions,
) -> std::io::Result<BenchReport> {
    // Each connection in flight holds the client's socket and, in-process, the server's.
    let per_connection = if target.is_none() { 2 } else { 1 };
    raise_open_files(options.concurrency as u64 * per_connection + 256);
    // In-process servers run on one thread of their own: leave them a core.
    let options = &BenchOptions {
        threads: Some(
            options
                .threads
                .unwrap_or_else(|| default_threads(usize::from(target.is_none()))),
        ),
        ..options.clone()
    };
    // In-process servers on a CPU of their own, the load threads on the others.
    let mut placement = match target {
        None if options.affinity => Placement::split(),
        _ => None,
    };
    // The targets: the given one, or each built-in scenario on an in-process server.
    let mut servers = Vec::new();
    let mut targets: Vec<(String, Target)> = Vec::new();
    match target {
        Some(target) => targets.push((target.to_string(), target)),
        None => {
            for &scenario in scenarios {
                let server = crate::mock::MockServer::builder()
                    .scenario(scenario)
                    .start()
                    .await?;
                targets.push((scenario.name().to_owned(), Target::from(server.addr())));
                place(&mut placement, |cpu| server.pin(cpu));
                servers.push(server);
            }
        }
    }
    let tls_server = match baseline {
        Some(_) => Some(BaselineServer::start(Wire::tls_handshake()).await?),
        None => None,
    };
    if let Some(server) = &tls_server {
        place(&mut placement, |cpu| server.pin(cpu));
    }
    // Each run's wire floor: its exchanges as one probe of its target made them.
    let mut floors = Vec::new();
    if baseline == Some(Baseline::Wire) {
        for (label, target) in &targets {
            let report = crate::probe(target, &options.probe).await;
            let wire = Wire::of(&report).ok_or_else(|| {
                std::io::Error::other(format!(
                    "no wire floor for {label}: its probe did not reach the end ({})",
                    report.verdict()
                ))
            })?;
            let server = BaselineServer::start(wire).await?;
            place(&mut placement, |cpu| server.pin(cpu));
            floors.push(server);
        }
    }
    // Without a baseline there is no ratio to steady: one round.
    let rounds = if baseline.is_some() {
        options
            .rounds
            .unwrap_or_else(|| default_rounds(options))
            .max(1)
    } else {
        1
    };
    let round_options = BenchOptions {
        connections: options.connections.div_ceil(rounds),
        duration: options.duration.map(|d| d / rounds as u32),
        ..options.clone()
    };
    let loads: Vec<Load> = (0..targets.len())
        .map(Load::Run)
        .chain((0..floors.len()).map(Load::Floor))
        .chain(tls_server.iter().map(|_| Load::Tls))
        .collect();
    // With ratios to steady, a round of every load first that counts for nothing: the
    // first connections of a process pay for its one-time work (the system roots loaded
    // on another thread while the first probes run, the first allocations), which would
    // otherwise fall into one side of the first round's ratios.
    let warm_up = BenchOptions {
        connections: round_options.connections.max(options.concurrency * 4),
        duration: None,
        progress: false,
        ..round_options.clone()
    };
    let mut ran: Vec<Option<Ran>> = loads.iter().map(|_| None).collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); loads.len()];
    let first = if rounds > 1 { 0 } else { 1 };
    for round in first..=rounds {
        let round_options = if round == 0 { &warm_up } else { &round_options };
        // A B A B, then B A B A in the next round: drift and order effects land on both
        // sides of every ratio.
        let mut order: Vec<usize> = (0..loads.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for index in order {
            // The load threads' names tell the loads apart in a profile (`perf report
            // --sort comm`): run-N-T, floor-N-T, tls-T (thread T of the load).
            let result = match loads[index] {
                Load::Run(i) => {
                    let (target, probe) = (targets[i].1.clone(), round_options.probe.clone());
                    load_round(
                        round_options,
                        placement.as_ref(),
                        &format!("run-{i}"),
                        move || {
                            let (target, probe) = (target.clone(), probe.clone());
                            async move { probe_sample(&target, &probe).await }
                        },
                    )
                    .await?
                }
                Load::Floor(i) => {
                    load_wire(
                        round_options,
                        placement.as_ref(),
                        &format!("floor-{i}"),
                        &floors[i],
                    )
                    .await?
                }
                Load::Tls => match &tls_server {
                    Some(server) => {
                        load_wire(round_options, placement.as_ref(), "tls", server).await?
                    }
                    None => continue,
                },
            };
            if round == 0 {
                continue;
            }
            rates[index].push(result.rate());
            ran[index] = Some(merge(ran[index].take(), result));
        }
    }
    for server in servers {
        server.shutdown().await;
    }
    drop(tls_server);

    let result = |label: String, ran: Ran| {
        ran.collector.into_result(
            label,
            options.concurrency,
            ran.threads,
            ran.elapsed,
            ran.memory,
        )
    };
    let mut runs = Vec::new();
    let mut floor_results = Vec::new();
    let mut tls_result = None;
    let mut spreads = Vec::new();
    let tls_rates = loads
        .iter()
        .position(|load| matches!(load, Load::Tls))
        .map(|index| rates[index].clone());
    for (index, load) in loads.iter().enumerate() {
        let Some(done) = ran[index].take() else {
            continue;
        };
        match *load {
            Load::Run(i) => {
                let label = targets[i].0.clone();
                if let Some(tls) = &tls_rates {
                    spreads.push(RatioSpread::new(
                        label.clone(),
                        Baseline::Tls,
                        &rates[index],
                        tls,
                    ));
                }
                if let Some(floor) = loads
                    .iter()
                    .position(|load| matches!(load, Load::Floor(f) if *f == i))
                {
                    spreads.push(RatioSpread::new(
                        label.clone(),
                        Baseline::Wire,
                        &rates[index],
                        &rates[floor],
                    ));
                }
                runs.push(result(label, done));
            }
            Load::Floor(i) => {
                let label = format!("{} wire floor", targets[i].0);
                if let Some(tls) = &tls_rates {
                    spreads.push(RatioSpread::new(
                        label.clone(),
                        Baseline::Tls,
                        &rates[index],
                        tls,
                    ));
                }
                floor_results.push(WireFloor {
                    wire: floors[i].wire().clone(),
                    result: result(label, done),
                });
            }
            Load::Tls => tls_result = Some(result("tls baseline".to_owned(), done)),
        }
    }
    let ratios = spreads
        .iter()
        .filter(|spread| spread.against == Baseline::Tls)
        .filter(|spread| runs.iter().any(|run| run.label == spread.label))
        .map(|spread| (spread.label.clone(), spread.mean))
        .collect();
    Ok(BenchReport {
        runs,
        baseline: tls_result,
        floors: floor_results,
        ratios,
        spreads,
        placement,
    })
}

/// Keeps a server's thread to `placement`'s server CPU; if that fails, nothing is placed
/// (the threads placed so far stay, the report says none is).
fn place(placement: &mut Option<Placement>, pin: impl FnOnce(usize) -> std::io::Result<()>) {
    if let Some(cpu) = placement.as_ref().map(|placement| placement.servers) {
        if let Err(error) = pin(cpu) {
            warn!(cpu, %error, "Cannot keep a server thread to its CPU; leaving the threads to the scheduler");
            *placement = None;
        }
    }
}

/// About 50 connections (or 250 ms) per round, between 1 and 40 rounds: on a noisy two-core
/// machine the middle of 40 such rounds held still within +-2 points over five runs where
/// 10 rounds of 200 moved by 8.
fn default_rounds(options: &BenchOptions) -> usize {
    let rounds = match options.duration {
        Some(duration) => (duration.as_millis() / 250) as usize,
        None => options.connections / 50,
    };
    rounds.clamp(1, 40)
}

/// One round of connections replaying `server`'s wire against it.
async fn load_wire(
    options: &BenchOptions,
    placement: Option<&Placement>,
    tag: &str,
    server: &BaselineServer,
) -> std::io::Result<Ran> {
    let (addr, wire) = (server.addr(), Arc::clone(&server.wire));
    load_round(options, placement, tag, move || {
        let wire = Arc::clone(&wire);
        async move { BaselineServer::connection(addr, &wire).await }
    })
    .await
}

fn merge(so_far: Option<Ran>, round: Ran) -> Ran {
    match so_far {
        Some(so_far) => so_far.merge(round),
        None => round,
    }
}

/// `sent>received` byte counts, one per exchange (`none` without any).
fn exchanges(exchanges: &[Exchange]) -> String {
    if exchanges.is_empty() {
        return "none".to_owned();
    }
    exchanges
        .iter()
        .map(|e| format!("{}>{}", e.sent, e.received))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders a benchmark report for people.
pub fn render(report: &BenchReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for run in report
        .runs
        .iter()
        .chain(report.floors.iter().map(|floor| &floor.result))
        .chain(report.baseline.iter())
    {
        let _ = writeln!(
            out,
            "{}: {} connections ({} reached the end), concurrency {} on {} load thread(s), {:.2} s, {:.1} handshakes/s",
            run.label,
            run.connections,
            run.succeeded,
            run.concurrency,
            run.threads,
            run.elapsed_s,
            run.handshakes_per_second
        );
        let _ = writeln!(
            out,
            "  {:<19} {:>9} {:>9} {:>9} {:>9}  (ms)",
            "stage", "p50", "p90", "p99", "max"
        );
        let row = |out: &mut String, name: &str, l: &Latency| {
            let _ = writeln!(
                out,
                "  {name:<19} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        };
        for (stage, latency) in &run.stages {
            row(&mut out, stage.name(), latency);
        }
        row(&mut out, "end to end", &run.end_to_end);
        if run.errors.is_empty() {
            let _ = writeln!(out, "  errors: none");
        }
        for error in &run.errors {
            let _ = writeln!(
                out,
                "  errors: {} x {}/{}: {}",
                error.count, error.stage, error.kind, error.example
            );
        }
        for warning in &run.warnings {
            let _ = writeln!(out, "  warning: {}", crate::text::escape(warning));
        }
        if let Some(memory) = &run.memory {
            let _ = writeln!(
                out,
                "  memory: RSS {} KiB -> peak {} KiB: {:.1} KiB per concurrent connection (this process: the client, and the server when in-process)",
                memory.baseline_rss_kib, memory.peak_rss_kib, memory.per_connection_kib
            );
        }
        let _ = writeln!(out);
    }
    for floor in &report.floors {
        let _ = writeln!(
            out,
            "{}: {} exchanges, {} bytes (before TLS: {}; inside: {})",
            floor.result.label,
            floor.wire.exchanges(),
            floor.wire.bytes(),
            exchanges(&floor.wire.plain),
            exchanges(&floor.wire.encrypted),
        );
    }
    for spread in &report.spreads {
        let against = match spread.against {
            Baseline::Tls => "the raw TLS handshake rate",
            Baseline::Wire => "its wire floor's rate",
        };
        let _ = writeln!(
            out,
            "{}: {:.0}% of {against} ({:.2}x; interquartile mean of {} interleaved rounds, median {:.2}, {:.0}-{:.0}%)",
            spread.label,
            spread.mean * 100.0,
            spread.mean,
            spread.rounds.len(),
            spread.median,
            spread.min * 100.0,
            spread.max * 100.0
        );
    }
    if let Some(placement) = &report.placement {
        let cpus: Vec<String> = placement.load.iter().map(usize::to_string).collect();
        let _ = writeln!(
            out,
            "threads: load on CPU {}, in-process servers on CPU {} (--no-affinity: the scheduler's choice)",
            cpus.join(","),
            placement.servers
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Direction, TraceEntry};

    /// The threads a placement names run where it says: every load thread on its load CPU
    /// (recorded from inside each connection), the baseline server's thread on the servers'
    /// CPU (read from /proc, by the thread's name).
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn placed_threads_run_on_their_cpus() {
        let Some(cpus) = crate::affinity::allowed_cpus() else {
            return;
        };
        // Whatever this machine allows, one CPU for the load and another (or the same, on
        // one CPU) for the server.
        let placement = Placement {
            load: vec![cpus[0]],
            servers: *cpus.last().expect("one at least"),
        };
        let server = BaselineServer::start(Wire::tls_handshake())
            .await
            .expect("starts");
        server.pin(placement.servers).expect("pins");
        let status = std::fs::read_dir("/proc/self/task")
            .expect("tasks")
            .filter_map(Result::ok)
            .find(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|name| name.trim() == "server-tls")
            })
            .and_then(|task| std::fs::read_to_string(task.path().join("status")).ok())
            .expect("the server's thread");
        let allowed = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .map(str::trim);
        assert_eq!(allowed, Some(placement.servers.to_string().as_str()));

        let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let options = BenchOptions {
            connections: 6,
            concurrency: 3,
            duration: None,
            probe: ProbeOptions::default(),
            progress: false,
            threads: Some(3),
            rounds: None,
            affinity: true,
        };
        let recorded = Arc::clone(&seen);
        let ran = load_round(&options, Some(&placement), "test", move || {
            let recorded = Arc::clone(&recorded);
            async move {
                let cpus = crate::affinity::allowed_cpus();
                recorded.lock().expect("not poisoned").insert(cpus);
                Sample {
                    ok: true,
                    total: Duration::ZERO,
                    stages: Vec::new(),
                    error: None,
                    warnings: Vec::new(),
                }
            }
        })
        .await
        .expect("runs");
        assert_eq!(ran.collector.succeeded, 6);
        let seen = seen.lock().expect("not poisoned").clone();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [Some(vec![cpus[0]])]);
    }

    fn entry(stage: Stage, direction: Direction, size: usize) -> TraceEntry {
        TraceEntry {
            at_ms: 0.0,
            direction,
            stage,
            step: None,
            name: "pdu".into(),
            size,
        }
    }

    #[test]
    fn the_interquartile_mean_drops_a_quarter_at_each_end() {
        assert_eq!(interquartile_mean(&[]), 0.0);
        assert_eq!(interquartile_mean(&[0.5, 0.7]), 0.6);
        // 8 values: the two smallest and the two largest go.
        let rounds = [0.9, 0.1, 0.5, 0.6, 0.5, 0.6, 2.0, 0.3];
        assert!((interquartile_mean(&rounds) - 0.55).abs() < 1e-12);
        assert!((median(&rounds) - 0.55).abs() < 1e-12);
    }

    #[test]
    fn a_wire_groups_the_writes_before_each_read_and_leaves_the_handshake_out() {
        use Direction::{Received as R, Sent as S};
        let trace = [
            entry(Stage::X224, S, 46),
            entry(Stage::X224, R, 19),
            entry(Stage::Tls, S, 214),
            entry(Stage::Tls, R, 677),
            entry(Stage::BasicSettings, S, 391),
            entry(Stage::BasicSettings, R, 110),
            entry(Stage::ChannelConnection, S, 12),
            entry(Stage::ChannelConnection, S, 8),
            entry(Stage::ChannelConnection, R, 11),
            entry(Stage::SecureSettings, S, 317),
            entry(Stage::SecureSettings, R, 34),
            entry(Stage::Capabilities, R, 299),
            entry(Stage::Finalization, S, 427),
        ];
        let wire = Wire::from_trace(true, &trace);
        let pairs = |e: &[Exchange]| e.iter().map(|e| (e.sent, e.received)).collect::<Vec<_>>();
        assert!(wire.tls);
        assert_eq!(pairs(&wire.plain), [(46, 19)]);
        assert_eq!(
            pairs(&wire.encrypted),
            [(391, 110), (20, 11), (317, 333), (427, 0)]
        );
        assert_eq!((wire.exchanges(), wire.bytes()), (5, 1674));

        // Without TLS everything is plain; a server that speaks first starts an exchange
        // the client sends nothing in.
        let wire = Wire::from_trace(
            false,
            &[entry(Stage::X224, R, 19), entry(Stage::X224, S, 5)],
        );
        assert_eq!(pairs(&wire.plain), [(0, 19), (5, 0)]);
        assert!(wire.encrypted.is_empty() && !wire.tls);
    }
}
