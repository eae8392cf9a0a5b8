//! The `rdpscope` command line: a thin shell over the library.

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rdpscope::cert::{read_pem_certificates, CertPolicy, TrustStore};
use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD, MOCK_USER};
use rdpscope::target::{parse_duration, Target};
use rdpscope::{Credentials, ProbeOptions, Secret, SecurityProtocols, Stage};

/// Exit code for usage errors and bad input.
const EXIT_USAGE: u8 = 2;
/// Exit code for internal errors.
const EXIT_INTERNAL: u8 = 1;

#[derive(Parser)]
#[command(
    name = "rdpscope",
    version,
    about = "Stage-exact RDP connection diagnostics"
)]
struct Cli {
    /// More logging on stderr (-v: rdpscope debug, -vv: IronRDP debug too)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connect to an RDP server and report every stage up to the first failure
    Probe(Box<ProbeArgs>),
    /// Benchmark connection setup: handshakes per second, latency per stage, errors, memory
    Bench(Box<BenchArgs>),
    /// Start every built-in mock scenario on loopback, probe each, and compare with its expectation
    Demo {
        /// Print the table as JSON
        #[arg(long)]
        json: bool,
    },
    /// Run one mock RDP server scenario until Ctrl-C
    Serve {
        /// Scenario name (see `rdpscope scenarios`)
        #[arg(long)]
        scenario: String,
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:3389")]
        listen: String,
    },
    /// Explain a Windows / RDP error code: meaning, stages, likely causes, how to confirm and fix
    Explain {
        /// The code: hex (0x904), decimal (2308) or a name (ERRINFO_SERVER_DENIED_CONNECTION)
        code: String,
        /// The extended error code, for the pair form (0x904 0x7)
        extended: Option<String>,
        /// Print the explanation as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the mock server scenarios and what a correct client reports for each
    Scenarios {
        /// Print the list as JSON
        #[arg(long)]
        json: bool,
    },
    /// Certificate fixtures for testing certificate checks
    #[command(subcommand)]
    Fixtures(FixturesCommand),
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Write every fixture, the test CA and manifest.toml into DIR
    Generate {
        /// Directory to write (created if missing; files of the same names are overwritten)
        dir: PathBuf,
    },
}

#[derive(Args)]
struct ProbeArgs {
    /// HOST[:PORT] or [IPV6]:PORT (default port 3389)
    target: String,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// HOST[:PORT] to load; without it, the built-in mock servers in-process
    target: Option<String>,
    /// Built-in scenarios to load (default: success_tls and success_hybrid_ex)
    #[arg(long)]
    scenario: Vec<String>,
    /// Connections to make per run
    #[arg(long, default_value_t = 200)]
    connections: usize,
    /// Connections in flight at once
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Load-generator threads (default: every core, less one for the in-process server)
    #[arg(long)]
    threads: Option<usize>,
    /// Run for this long instead of a number of connections (e.g. 10s)
    #[arg(long)]
    duration: Option<String>,
    /// Also run a raw TLS handshake loop (same certificate and key type) and report ratios
    #[arg(long, value_parser = ["tls"])]
    baseline: Option<String>,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Connection options shared by `probe` and `bench`.
#[derive(Args)]
struct ConnectArgs {
    /// User name for NLA (the password comes from RDPSCOPE_PASSWORD or --password-stdin)
    #[arg(long)]
    user: Option<String>,
    /// Domain for NLA
    #[arg(long)]
    domain: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
    /// Protocols to offer, from rdp,tls,hybrid,hybrid_ex
    #[arg(long, default_value = "tls,hybrid,hybrid_ex")]
    security: String,
    /// Timeout for each stage (e.g. 10s, 500ms)
    #[arg(long, default_value = "10s")]
    timeout: String,
    /// Timeout for the TCP connect (default: the stage timeout)
    #[arg(long)]
    connect_timeout: Option<String>,
    /// Stop successfully once this stage is reached
    #[arg(long)]
    until: Option<String>,
    /// Certificate policy: strict, default, warn or ignore
    #[arg(long, default_value = "default")]
    cert_policy: String,
    /// Extra trusted CA certificates (PEM)
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Name to check the certificate against (default: the target host)
    #[arg(long)]
    server_name: Option<String>,
    /// Warn when the certificate expires in fewer days than this (0 to 36500)
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=36_500))]
    expiry_warning_days: i64,
    /// Pin the leaf certificate (sha256:HEX or sha1:HEX): the certificate stage passes exactly when it matches
    #[arg(long)]
    pin: Option<String>,
    /// Trust on first use with this known-hosts file: record each host's certificate at first contact, fail when it changes
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Trust on first use with the default known-hosts file ($XDG_CONFIG_HOME/rdpscope/known_hosts)
    #[arg(long, conflicts_with = "known_hosts")]
    tofu: bool,
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    say(message);
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    // A panic is a bug in rdpscope, never the server's doing: exit 1, as documented.
    std::panic::set_hook(Box::new(|info| {
        say(format_args!(
            "internal error (a bug, please report it): {info}"
        ));
        std::process::exit(i32::from(EXIT_INTERNAL));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    rdpscope::logging::init(cli.verbose, matches!(cli.command, Command::Serve { .. }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            say(format_args!("cannot start the runtime: {e}"));
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let code = match cli.command {
        Command::Probe(args) => runtime.block_on(probe(*args)),
        Command::Bench(args) => runtime.block_on(bench(*args)),
        Command::Demo { json } => runtime.block_on(demo(json)),
        Command::Serve { scenario, listen } => runtime.block_on(serve(&scenario, &listen)),
        Command::Scenarios { json } => scenarios(json),
        Command::Explain {
            code,
            extended,
            json,
        } => explain(&code, extended.as_deref(), json),
        Command::Fixtures(FixturesCommand::Generate { dir }) => generate_fixtures(&dir),
    };
    // Do not wait for a name lookup that timed out but still runs on a blocking thread.
    runtime.shutdown_background();
    code
}

/// One line on stderr, `rdpscope: ` first, escaped (it may quote input or a server). A
/// closed stderr is ignored: nothing else could report it.
fn say(message: impl std::fmt::Display) {
    let message = message.to_string();
    let _ = writeln!(
        std::io::stderr().lock(),
        "rdpscope: {}",
        rdpscope::text::escape(&message)
    );
}

/// Help and version go out as clap renders them; every other command-line error is bad
/// input: one line and exit 2.
fn clap_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE))
        }
        _ => {
            let rendered = error.render().to_string();
            let line = rendered.lines().next().unwrap_or("invalid command line");
            usage_error(line.strip_prefix("error: ").unwrap_or(line))
        }
    }
}

/// Writes a command's output to stdout. A closed pipe (`rdpscope ... | head -1`) ends the
/// output quietly and the command keeps its exit code; any other write error is an
/// internal error (exit 1).
fn emit(text: &str) -> Result<(), ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            say(format_args!("cannot write the output: {e}"));
            Err(ExitCode::from(EXIT_INTERNAL))
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), ExitCode> {
    match serde_json::to_string_pretty(value) {
        Ok(json) => emit(&format!("{json}\n")),
        Err(e) => {
            say(format_args!("cannot serialise the output: {e}"));
            Err(ExitCode::from(EXIT_INTERNAL))
        }
    }
}

async fn demo(json: bool) -> ExitCode {
    let rows = match rdpscope::demo::run_demo().await {
        Ok(rows) => rows,
        Err(e) => {
            say(format_args!("cannot run the demo: {e}"));
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let written = if json {
        print_json(&rows)
    } else {
        emit(&rdpscope::demo::render_demo(&rows))
    };
    if let Err(code) = written {
        return code;
    }
    if rows.iter().all(|row| row.matches) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INTERNAL)
    }
}

async fn serve(scenario: &str, listen: &str) -> ExitCode {
    let scenario: Scenario = match scenario.parse() {
        Ok(scenario) => scenario,
        Err(e) => return usage_error(format!("{e}; see `rdpscope scenarios`")),
    };
    let listen: std::net::SocketAddr = match listen.parse() {
        Ok(addr) => addr,
        Err(_) => return usage_error(format!("invalid listen address `{listen}`")),
    };
    let server = match MockServer::builder()
        .scenario(scenario)
        .listen(listen)
        .start()
        .await
    {
        Ok(server) => server,
        Err(e) => {
            say(format_args!("cannot listen on {listen}: {e}"));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // The mock's own, published test credentials (README), for the client under test.
    let _ = writeln!(
        std::io::stderr().lock(),
        "Serving scenario {} on {} (user {MOCK_USER}, password {MOCK_PASSWORD}); Ctrl-C to stop\nExpected probe result: {}",
        scenario.name(),
        server.addr(),
        scenario.expected().summary()
    );
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn bench(args: BenchArgs) -> ExitCode {
    let mut probe = match probe_options(&args.connect) {
        Ok(options) => options,
        Err(e) => return usage_error(e),
    };
    let duration = match args.duration.as_deref().map(parse_duration).transpose() {
        Ok(duration) => duration,
        Err(e) => return usage_error(e),
    };
    if args.connections == 0 || args.concurrency == 0 || args.threads == Some(0) {
        return usage_error("--connections, --concurrency and --threads must be at least 1");
    }
    let target = match args.target.as_deref().map(str::parse::<Target>).transpose() {
        Ok(target) => target,
        Err(e) => return usage_error(e),
    };
    let scenarios = if args.scenario.is_empty() {
        vec![Scenario::SuccessTls, Scenario::SuccessHybridEx]
    } else {
        match args
            .scenario
            .iter()
            .map(|s| s.parse::<Scenario>())
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(scenarios) => scenarios,
            Err(e) => return usage_error(format!("{e}; see `rdpscope scenarios`")),
        }
    };
    if target.is_none() && probe.credentials.is_none() {
        probe.credentials = Some(rdpscope::mock::credentials());
    }
    let options = rdpscope::bench::BenchOptions {
        connections: args.connections,
        concurrency: args.concurrency,
        duration,
        probe,
        progress: !args.json && std::io::stderr().is_terminal(),
        threads: args.threads,
    };
    let report =
        match rdpscope::bench::run(target, &scenarios, args.baseline.is_some(), &options).await {
            Ok(report) => report,
            Err(e) => {
                say(format_args!("cannot run the benchmark: {e}"));
                return ExitCode::from(EXIT_INTERNAL);
            }
        };
    for warning in report.warnings() {
        say(format_args!("warning: {warning}"));
    }
    let written = if args.json {
        print_json(&report)
    } else {
        emit(&rdpscope::bench::render(&report))
    };
    if let Err(code) = written {
        return code;
    }
    // A run in which no connection reached the end stage measured nothing: it fails with
    // the exit code of the stage most of its connections failed at.
    match report.empty_run() {
        Some((run, Some(stage))) => {
            say(format_args!(
                "no connection of {} reached the end stage; most failed at {stage}",
                run.label
            ));
            ExitCode::from(u8::try_from(stage.exit_code()).unwrap_or(EXIT_INTERNAL))
        }
        Some((run, None)) => {
            say(format_args!("no connection of {} completed", run.label));
            ExitCode::from(EXIT_INTERNAL)
        }
        None => ExitCode::SUCCESS,
    }
}

fn explain(code: &str, extended: Option<&str>, json: bool) -> ExitCode {
    match rdpscope::diagnosis::explain(code, extended) {
        Ok(explanation) if json => {
            print_json(&explanation).map_or_else(|code| code, |()| ExitCode::SUCCESS)
        }
        Ok(explanation) => emit(&rdpscope::report::render_explanation(&explanation))
            .map_or_else(|code| code, |()| ExitCode::SUCCESS),
        Err(e) => usage_error(e),
    }
}

/// One line of `rdpscope scenarios`.
#[derive(serde::Serialize)]
struct ScenarioLine {
    name: &'static str,
    description: &'static str,
    cause: &'static str,
    expected_stage: Stage,
    expected_kind: Option<rdpscope::FailureKind>,
    neg_failure_code: Option<u32>,
    ntstatus: Option<u32>,
    errinfo: Option<u32>,
    finding: Option<&'static str>,
}

fn generate_fixtures(dir: &std::path::Path) -> ExitCode {
    match rdpscope::fixtures::generate(dir) {
        Ok(()) => emit(&format!(
            "wrote {} fixtures, {} and {} to {}\n",
            rdpscope::fixtures::FIXTURES.len(),
            rdpscope::fixtures::TEST_CA_FILE,
            rdpscope::fixtures::MANIFEST_FILE,
            dir.display()
        ))
        .map_or_else(|code| code, |()| ExitCode::SUCCESS),
        Err(e) => {
            say(format_args!(
                "cannot write fixtures to {}: {e}",
                dir.display()
            ));
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

fn scenarios(json: bool) -> ExitCode {
    let lines: Vec<ScenarioLine> = Scenario::ALL
        .iter()
        .map(|s| {
            let expected = s.expected();
            ScenarioLine {
                name: s.name(),
                description: s.description(),
                cause: s.cause(),
                expected_stage: expected.stage,
                expected_kind: expected.kind,
                neg_failure_code: expected.neg_failure_code,
                ntstatus: expected.ntstatus,
                errinfo: expected.errinfo,
                finding: expected.finding,
            }
        })
        .collect();
    if json {
        return print_json(&lines).map_or_else(|code| code, |()| ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for line in &lines {
        let summary = line.expected_kind.map_or_else(
            || "connected".to_owned(),
            |kind| format!("{}/{kind}", line.expected_stage),
        );
        let _ = writeln!(out, "{:<58} {summary}", line.name);
        let _ = writeln!(out, "    what:  {}", line.description);
        let _ = writeln!(out, "    cause: {}", line.cause);
    }
    emit(&out).map_or_else(|code| code, |()| ExitCode::SUCCESS)
}

fn probe_options(args: &ConnectArgs) -> Result<ProbeOptions, String> {
    let parse_time = |s: &str| parse_duration(s).map_err(|e| e.to_string());
    let stage_timeout = parse_time(&args.timeout)?;
    let connect_timeout = match &args.connect_timeout {
        Some(s) => parse_time(s)?,
        None => stage_timeout,
    };
    let until = args
        .until
        .as_deref()
        .map(str::parse::<Stage>)
        .transpose()
        .map_err(|e| e.to_string())?;
    if args.password_stdin && args.user.is_none() {
        return Err("--password-stdin needs --user".to_owned());
    }
    let password = if args.password_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err("--password-stdin read an empty password".to_owned());
        }
        Some(Secret::new(password.to_owned()))
    } else {
        match std::env::var("RDPSCOPE_PASSWORD") {
            Ok(password) if password.is_empty() => {
                return Err("RDPSCOPE_PASSWORD is empty".to_owned())
            }
            Ok(password) => Some(Secret::new(password)),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err("RDPSCOPE_PASSWORD is not valid UTF-8".to_owned());
            }
        }
    };
    let credentials = match (&args.user, password) {
        (Some(user), Some(password)) => Some(Credentials {
            user: user.clone(),
            domain: args.domain.clone(),
            password,
        }),
        (Some(_), None) => {
            say("--user given without a password (RDPSCOPE_PASSWORD or --password-stdin): probing without credentials");
            None
        }
        _ => None,
    };
    let trust = match &args.ca_file {
        Some(path) => {
            let extra = read_pem_certificates(path)
                .map_err(|e| format!("cannot read --ca-file {}: {e}", path.display()))?;
            Some(TrustStore::with_extra(&extra))
        }
        None => None,
    };
    let known_hosts = match (&args.known_hosts, args.tofu) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(rdpscope::cert::known_hosts::default_path().ok_or(
            "--tofu needs a configuration directory: set XDG_CONFIG_HOME or HOME, or use --known-hosts FILE",
        )?),
        (None, false) => None,
    };
    if let Some(path) = &known_hosts {
        rdpscope::cert::known_hosts::read(path)
            .map_err(|e| format!("cannot read the known hosts file {}: {e}", path.display()))?;
    }
    Ok(ProbeOptions {
        credentials,
        security: args.security.parse::<SecurityProtocols>()?,
        stage_timeout,
        connect_timeout: Duration::max(connect_timeout, Duration::from_millis(1)),
        until,
        cert_policy: args.cert_policy.parse::<CertPolicy>()?,
        trust,
        server_name: args.server_name.clone(),
        expiry_warning_days: args.expiry_warning_days,
        pin: args.pin.as_deref().map(str::parse).transpose()?,
        known_hosts,
    })
}

async fn probe(args: ProbeArgs) -> ExitCode {
    let target: Target = match args.target.parse() {
        Ok(target) => target,
        Err(e) => return usage_error(e),
    };
    let options = match probe_options(&args.connect) {
        Ok(options) => options,
        Err(e) => return usage_error(e),
    };
    let report = rdpscope::probe(&target, &options).await;
    // Warnings go to stderr too, so that they reach the user whatever reads stdout.
    for warning in &report.warnings {
        say(format_args!("warning: {}", rdpscope::text::escape(warning)));
    }
    let written = if args.json {
        print_json(&report)
    } else {
        emit(&rdpscope::report::render_human(&report))
    };
    if let Err(code) = written {
        return code;
    }
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(EXIT_INTERNAL))
}
