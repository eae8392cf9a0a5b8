//! The library as another crate's tests use it, through its public API only: start a mock
//! RDP server that refuses the session after authentication, probe it, and check where and
//! how the connection failed and what mstsc would have shown.
//!
//! `cargo run --example probe_a_mock`

use rdpscope::diagnosis::Code;
use rdpscope::mock::{MockServer, Scenario};
use rdpscope::{FailureKind, ProbeOptions, Stage};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = MockServer::builder()
        .scenario(Scenario::ServerErrorInfo(7))
        .start()
        .await?;
    let target = server.addr().into();
    let report = rdpscope::probe(&target, &ProbeOptions::default()).await;

    let error = report
        .error
        .as_ref()
        .expect("the server refuses the session");
    assert_eq!(error.stage, Stage::SecureSettings);
    assert_eq!(error.kind, FailureKind::ServerErrorInfo);
    assert_eq!(error.code, Some(Code::Errinfo(7)));
    let mstsc = &report.diagnosis.as_ref().expect("a diagnosis").mstsc[0];
    println!("{}", report.verdict());
    println!(
        "mstsc would show 0x{:X} / extended 0x{:X}",
        mstsc.disconnect, mstsc.extended
    );
    server.shutdown().await;
    Ok(())
}
