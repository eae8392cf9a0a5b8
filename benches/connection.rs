//! Connection-setup benchmarks. Every figure is meant to be read as a ratio to the raw TLS
//! handshake baseline measured in the same run (see the README).
//!
//! Run: `cargo bench --bench connection`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ironrdp_pdu::nego::{
    ConnectionConfirm, ConnectionRequest, RequestFlags, ResponseFlags, SecurityProtocol,
};
use ironrdp_pdu::x224::X224;
use rdpscope::bench::{BaselineServer, Wire};
use rdpscope::cert::{analyze, AnalysisOptions, CertPolicy, TrustStore};
use rdpscope::mock::{MockServer, Scenario};
use rdpscope::target::Target;
use rdpscope::{ProbeOptions, Report};
use rustls::pki_types::CertificateDer;

fn x224(c: &mut Criterion) {
    let request = ConnectionRequest {
        nego_data: None,
        flags: RequestFlags::empty(),
        protocol: SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX,
        correlation_info: None,
    };
    let confirm = ConnectionConfirm::Response {
        flags: ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED,
        protocol: SecurityProtocol::HYBRID_EX,
    };
    c.bench_function("x224 request+confirm encode+decode", |b| {
        b.iter(|| {
            let request_bytes =
                ironrdp_core::encode_vec(&X224(black_box(request.clone()))).expect("encode");
            let decoded =
                ironrdp_core::decode::<X224<ConnectionRequest>>(&request_bytes).expect("decode");
            let confirm_bytes =
                ironrdp_core::encode_vec(&X224(black_box(confirm.clone()))).expect("encode");
            let confirmed =
                ironrdp_core::decode::<X224<ConnectionConfirm>>(&confirm_bytes).expect("decode");
            black_box((decoded, confirmed))
        });
    });
}

fn certificate(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let ca = rdpscope::cert::read_pem_certificates(&dir.join("test-ca.crt")).expect("test CA");
    let trust = TrustStore::with_extra(&ca);
    for name in ["intermediate-chain", "expired"] {
        let (chain, _) = rdpscope::fixtures::read_chain(&dir, name).expect("fixture");
        let chain: Vec<CertificateDer<'static>> =
            chain.into_iter().map(CertificateDer::from).collect();
        c.bench_function(&format!("certificate analysis ({name})"), |b| {
            b.iter(|| {
                black_box(analyze(
                    black_box(&chain),
                    &AnalysisOptions {
                        server_name: "127.0.0.1",
                        trust: &trust,
                        policy: CertPolicy::Default,
                        now: time::OffsetDateTime::now_utc(),
                        expiry_warning_days: 30,
                        pin: None,
                    },
                ))
            });
        });
    }
}

fn connections(c: &mut Criterion) {
    // One connection at a time on a single-threaded runtime, as `rdpscope bench` drives its
    // connections; the servers run on threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("connection setup");
    group.measurement_time(Duration::from_secs(8));

    // The baseline: TCP connect + full TLS handshake, same certificate and key type.
    let baseline = runtime
        .block_on(BaselineServer::start(Wire::tls_handshake()))
        .expect("baseline server");
    let addr = baseline.addr();
    group.bench_function("raw TLS handshake (baseline)", |b| {
        b.to_async(&runtime).iter(|| async {
            let sample = BaselineServer::connection(addr, baseline.wire()).await;
            assert!(sample.ok, "{:?}", sample.error);
        });
    });
    drop(baseline);

    for scenario in [Scenario::SuccessTls, Scenario::SuccessHybridEx] {
        let server = runtime
            .block_on(MockServer::builder().scenario(scenario).start())
            .expect("mock server");
        let target = Target::from(server.addr());
        let options = ProbeOptions {
            credentials: Some(rdpscope::mock::credentials()),
            ..ProbeOptions::default()
        };
        group.bench_function(format!("probe to connected ({})", scenario.name()), |b| {
            b.to_async(&runtime).iter(|| {
                let (target, options) = (target.clone(), options.clone());
                async move {
                    let report: Report = rdpscope::probe(&target, &options).await;
                    assert_eq!(report.exit_code(), 0, "{}", report.verdict());
                }
            });
        });
        // Its wire floor: the same exchanges and bytes, no RDP work on either side.
        let wire = Wire::of(&runtime.block_on(rdpscope::probe(&target, &options)))
            .expect("the probe reaches connected");
        let floor = runtime
            .block_on(BaselineServer::start(wire))
            .expect("wire floor server");
        let floor_addr = floor.addr();
        group.bench_function(format!("wire floor ({})", scenario.name()), |b| {
            b.to_async(&runtime).iter(|| async {
                let sample = BaselineServer::connection(floor_addr, floor.wire()).await;
                assert!(sample.ok, "{:?}", sample.error);
            });
        });
        drop(floor);
        // The whole scan of the same server: every protocol, TLS version and suite, the
        // certificate and (with NLA) the NTLM info, its connections in parallel.
        group.bench_function(format!("scan ({})", scenario.name()), |b| {
            b.to_async(&runtime).iter(|| {
                let target = target.clone();
                async move {
                    let report = rdpscope::scan::scan(&target, &Default::default()).await;
                    assert!(report.error.is_none() && report.tls.is_some());
                }
            });
        });
        runtime.block_on(server.shutdown());
    }
    group.finish();
}

/// Every built-in scenario as a suite at concurrency 16 against `demo` (every scenario at
/// once), in the same run: the suite's cost over the demo is parsing, a bounded pool and
/// per-case results. Both are bounded by the timeout scenarios' 1 s stage timeout.
fn suite(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let text: String = Scenario::ALL
        .iter()
        .map(|s| format!("[[case]]\nname = \"{0}\"\nscenario = \"{0}\"\n", s.name()))
        .collect();
    let suite = rdpscope::suite::parse("all.toml", &text, std::path::Path::new("."), &|_| None)
        .expect("suite");
    let mut group = c.benchmark_group("every scenario");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    group.bench_function("demo (all at once)", |b| {
        b.to_async(&runtime).iter(|| async {
            let rows = rdpscope::demo::run_demo().await.expect("demo");
            assert!(rows.iter().all(|r| r.matches));
        });
    });
    group.bench_function("suite at concurrency 16", |b| {
        b.to_async(&runtime).iter(|| async {
            let result = rdpscope::suite::run(&suite, 16, |_| {}).await;
            assert!(result.all_passed(), "{}", result.render());
        });
    });
    group.finish();
}

criterion_group!(benches, x224, certificate, connections, suite);
criterion_main!(benches);
