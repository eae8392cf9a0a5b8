//! Nothing a server sends makes the probe panic or hang: property tests with servers that
//! answer with arbitrary bytes, before and after the TLS upgrade.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use rdpscope::report::Outcome;
use rdpscope::{FailureKind, ProbeOptions, Report, Stage};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    static ACCEPTOR: OnceLock<tokio_rustls::TlsAcceptor> = OnceLock::new();
    ACCEPTOR
        .get_or_init(|| {
            let ck =
                rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
            let key = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der())
                .expect("key");
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .expect("config");
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        })
        .clone()
}

/// A Connection Confirm selecting PROTOCOL_SSL.
const CONFIRM_SSL: [u8; 19] = [
    0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x01, 0x08, 0x00, 0x01,
    0x00, 0x00, 0x00,
];

/// Serves one connection: reads the request, optionally upgrades to TLS, sends `reply`, closes.
async fn hostile_probe(reply: Vec<u8>, after_tls: bool) -> Report {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.ok()?;
        let mut request = [0u8; 512];
        let _ = tcp.read(&mut request).await.ok()?;
        if after_tls {
            tcp.write_all(&CONFIRM_SSL).await.ok()?;
            let mut tls = tls_acceptor().accept(tcp).await.ok()?;
            let mut connect_initial = [0u8; 4096];
            let _ = tls.read(&mut connect_initial).await.ok()?;
            tls.write_all(&reply).await.ok()?;
            tls.shutdown().await.ok()
        } else {
            tcp.write_all(&reply).await.ok()?;
            tcp.shutdown().await.ok()
        }
    });
    let options = ProbeOptions {
        stage_timeout: Duration::from_millis(1500),
        ..ProbeOptions::default()
    };
    let report = rdpscope::probe(&addr.into(), &options).await;
    server.abort();
    report
}

fn bytes_that_look_like_tpkt() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(len, body)| {
            let mut bytes = vec![0x03, 0x00];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend(body);
            bytes
        }),
        // An X.224 Data TPDU header with an arbitrary MCS body.
        prop::collection::vec(any::<u8>(), 0..96).prop_map(|body| {
            let total = u16::try_from(7 + body.len()).unwrap_or(u16::MAX);
            let mut bytes = vec![0x03, 0x00];
            bytes.extend_from_slice(&total.to_be_bytes());
            bytes.extend_from_slice(&[0x02, 0xf0, 0x80]);
            bytes.extend(body);
            bytes
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_answer_to_the_connection_request(reply in bytes_that_look_like_tpkt()) {
        let report = runtime().block_on(hostile_probe(reply, false));
        prop_assert_eq!(report.outcome, Outcome::Failed, "{}", report.verdict());
        let error = report.error.as_ref().expect("error");
        prop_assert!(matches!(error.stage, Stage::X224 | Stage::Tls), "{}", report.verdict());
        prop_assert_ne!(error.kind, FailureKind::Internal, "{}", report.verdict());
        prop_assert!(!error.message.is_empty());
    }

    #[test]
    fn arbitrary_answer_to_mcs_connect_initial(reply in bytes_that_look_like_tpkt()) {
        let report = runtime().block_on(hostile_probe(reply, true));
        prop_assert_eq!(report.outcome, Outcome::Failed, "{}", report.verdict());
        let error = report.error.as_ref().expect("error");
        prop_assert_eq!(error.stage, Stage::BasicSettings, "{}", report.verdict());
        prop_assert!(
            matches!(error.kind, FailureKind::ProtocolError | FailureKind::ClosedByPeer | FailureKind::Timeout),
            "{}", report.verdict()
        );
    }
}
