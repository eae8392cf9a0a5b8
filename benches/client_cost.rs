//! The client's own cost per connection, for valgrind's callgrind: N connections of one kind
//! made one at a time on this thread (a current-thread tokio runtime, as `rdpscope bench`
//! drives its load), each inside `measured_connection`, the one function callgrind
//! collects; the server runs on a thread of its own that is never collected. The kinds,
//! each against a server with the same certificate and key type (self-signed ECDSA P-256):
//!
//! - `raw`: TCP connect and a full TLS handshake with tokio-rustls and the probe's own TLS
//!   configuration (the baseline of `rdpscope bench --baseline tls`);
//! - `tls`: `rdpscope::probe` to `connected` over TLS (success_tls);
//! - `hybrid_ex`: the same over HYBRID_EX (CredSSP/NTLM, success_hybrid_ex).
//!
//! `sh benches/client-instructions.sh` runs each under callgrind and prints instructions
//! per connection and the ratios. Run plainly (`cargo bench --bench client_cost -- KIND N`)
//! it prints the wall time per connection: a smoke test only, not the figure.

use std::time::Instant;

use rdpscope::bench::{BaselineServer, Wire};
use rdpscope::mock::{MockServer, Scenario};
use rdpscope::target::Target;
use rdpscope::ProbeOptions;

/// What one connection is made against.
enum Server {
    Raw(std::net::SocketAddr),
    Probe(Target, Box<ProbeOptions>),
}

/// One connection: the only code callgrind collects.
#[inline(never)]
fn measured_connection(runtime: &tokio::runtime::Runtime, server: &Server) {
    connection(runtime, server);
}

fn connection(runtime: &tokio::runtime::Runtime, server: &Server) {
    match server {
        Server::Raw(addr) => {
            let sample =
                runtime.block_on(BaselineServer::connection(*addr, &Wire::tls_handshake()));
            assert!(sample.ok, "{:?}", sample.error);
        }
        Server::Probe(target, options) => {
            let report = runtime.block_on(rdpscope::probe(target, options));
            assert_eq!(report.exit_code(), 0, "{}", report.verdict());
        }
    }
}

fn main() {
    // `cargo bench` adds `--bench`: the kind and the count are the other arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let kind = args.first().map_or("tls", String::as_str).to_owned();
    let connections: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (server, _keep): (Server, Box<dyn std::any::Any>) = match kind.as_str() {
        "raw" => {
            let baseline = runtime
                .block_on(BaselineServer::start(Wire::tls_handshake()))
                .expect("baseline server");
            (Server::Raw(baseline.addr()), Box::new(baseline))
        }
        "tls" | "hybrid_ex" => {
            let scenario = match kind.as_str() {
                "tls" => Scenario::SuccessTls,
                _ => Scenario::SuccessHybridEx,
            };
            let mock = runtime
                .block_on(MockServer::builder().scenario(scenario).start())
                .expect("mock server");
            // The options `rdpscope bench` uses against the built-in servers.
            let options = ProbeOptions {
                credentials: Some(rdpscope::mock::credentials()),
                ..ProbeOptions::default()
            };
            (
                Server::Probe(Target::from(mock.addr()), Box::new(options)),
                Box::new(mock),
            )
        }
        other => panic!("unknown kind {other}: raw, tls or hybrid_ex"),
    };
    // Warm-up, not collected: the system roots, the TLS configuration, the certificate
    // cache, first allocations.
    for _ in 0..5 {
        connection(&runtime, &server);
    }
    let started = Instant::now();
    for _ in 0..connections {
        measured_connection(&runtime, &server);
    }
    println!(
        "{kind}: {connections} connections, {:.0} us each (wall, not the figure)",
        started.elapsed().as_secs_f64() / connections as f64 * 1e6
    );
}
