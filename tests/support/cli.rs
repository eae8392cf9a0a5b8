//! Running the `rdpscope` binary, beside a mock server when it needs one.

use std::process::{Command, Output, Stdio};

use rdpscope::mock::{MockServer, Scenario};

/// Runs the binary with `args`; `RDPSCOPE_PASSWORD` is `password` or unset.
pub fn rdpscope(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rdpscope"));
    command
        .args(args)
        .env_remove("RDPSCOPE_PASSWORD")
        .stdin(Stdio::null());
    if let Some(password) = password {
        command.env("RDPSCOPE_PASSWORD", password);
    }
    command.output().expect("rdpscope runs")
}

/// Runs `f` with the address of a mock server of `scenario` on a blocking thread.
pub async fn with_server<T: Send + 'static>(
    scenario: Scenario,
    f: impl FnOnce(String) -> T + Send + 'static,
) -> T {
    let server = MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("mock starts");
    let addr = server.addr().to_string();
    let result = tokio::task::spawn_blocking(move || f(addr))
        .await
        .expect("join");
    server.shutdown().await;
    result
}
