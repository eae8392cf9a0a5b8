//! The `rdpscope` command line: a thin shell over the library.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory as _, Parser, Subcommand};
use rdpscope::cert::{read_pem_certificates, CertPolicy, Pin};
use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD, MOCK_USER};
use rdpscope::options::ConnectSettings;
use rdpscope::target::{parse_duration, Target};
use rdpscope::{ProbeOptions, Secret, SecurityProtocols, Stage};

/// Exit code for usage errors and bad input.
const EXIT_USAGE: u8 = 2;
/// Exit code for internal errors.
const EXIT_INTERNAL: u8 = 1;

/// Why a command could not do its work: one line on stderr, then its exit code.
enum Fail {
    /// Bad input: exit 2.
    Usage(String),
    /// Anything else (the runtime, a write, a bug): exit 1.
    Internal(String),
}

impl Fail {
    fn usage(message: impl std::fmt::Display) -> Self {
        Fail::Usage(message.to_string())
    }

    fn internal(message: impl std::fmt::Display) -> Self {
        Fail::Internal(message.to_string())
    }
}

/// What a command returns: its exit code, or why it could not run.
type Outcome = Result<ExitCode, Fail>;

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
    /// What an RDP endpoint offers: security protocols, NLA, TLS versions and suites, the
    /// certificate, NTLM target info (no credentials), risks
    Scan(ScanArgs),
    /// A monitoring plugin (Nagios, Icinga, Centreon): one status line with performance
    /// data, the stage table, exit 0 OK / 1 WARNING / 2 CRITICAL / 3 UNKNOWN
    Check(Box<CheckArgs>),
    /// Run a regression suite (TOML): each case a probe compared with its expectation;
    /// a summary table, JSON or JUnit XML; exit 0 when every case met its expectation
    Suite(SuiteArgs),
    /// Start every built-in mock scenario on loopback, probe each, and compare with its expectation
    Demo {
        /// Print the table as JSON
        #[arg(long)]
        json: bool,
    },
    /// Run one mock RDP server scenario until Ctrl-C
    Serve(ServeArgs),
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
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout: `rdpscope man | man -l -`
    Man,
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
    /// HOST[:PORT], [IPV6]:PORT (default port 3389), or a FILE.rdp connection file
    target: String,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
    /// Show every stage's steps and, after the stage table, every PDU sent and received
    /// (JSON always carries them)
    #[arg(long)]
    trace: bool,
    /// Write a pcapng capture of the connection that Wireshark and tshark open decrypted
    /// (TLS secrets embedded; the password material blanked), also when the probe fails
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Keep the NTLM AUTHENTICATE response and the TSCredentials in the --pcap capture as
    /// they were sent: anyone with the file can then crack the password offline
    #[arg(long, requires = "pcap")]
    pcap_include_credentials: bool,
    /// Write the session's TLS secrets in SSLKEYLOGFILE format (they decrypt the real
    /// session, credentials included, for whoever also has its packets)
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// Scenario name (see `rdpscope scenarios`)
    #[arg(long)]
    scenario: Scenario,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:3389")]
    listen: SocketAddr,
    /// The account NLA accepts, instead of the published mock account: USER (or
    /// DOMAIN\\USER) and the environment variable holding its password (USER:ENVVAR)
    #[arg(long, value_name = "USER:ENVVAR")]
    credentials: Option<String>,
    /// Serve this certificate chain (PEM, leaf first) instead of a generated one
    #[arg(long, value_name = "PEM", requires = "key")]
    certificate: Option<PathBuf>,
    /// The private key of --certificate (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "PEM", requires = "certificate")]
    key: Option<PathBuf>,
}

#[derive(Args)]
struct CheckArgs {
    /// HOST[:PORT], [IPV6]:PORT (default port 3389), or a FILE.rdp connection file
    target: String,
    /// Total connection time (seconds, a Nagios range such as 2 or 1:5) that is a WARNING
    #[arg(
        short = 'w',
        long = "warning",
        value_name = "RANGE",
        allow_hyphen_values = true
    )]
    warning: Option<rdpscope::check::Threshold>,
    /// Total connection time (seconds, a Nagios range) that is CRITICAL
    #[arg(
        short = 'c',
        long = "critical",
        value_name = "RANGE",
        allow_hyphen_values = true
    )]
    critical: Option<rdpscope::check::Threshold>,
    /// WARNING when the certificate expires in fewer days than this
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i64).range(0..=36_500))]
    warn_days: Option<i64>,
    /// CRITICAL when the certificate expires in fewer days than this
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i64).range(0..=36_500))]
    crit_days: Option<i64>,
    /// CRITICAL when the server accepts a client offering only TLS (NLA no longer required)
    #[arg(long)]
    expect_nla: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Args)]
struct SuiteArgs {
    /// The suite file (TOML; see examples/suite.toml)
    file: PathBuf,
    /// Cases run at once
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    concurrency: usize,
    /// Run only the cases whose name contains PATTERN (repeatable: any of them)
    #[arg(long, value_name = "PATTERN")]
    filter: Vec<String>,
    /// List the cases (name, target, expectation) without running them
    #[arg(long)]
    list: bool,
    /// Also write the results as JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the results as one JSON object (every case's report included)
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ScanArgs {
    /// HOST[:PORT] to scan (default port 3389); several scan in parallel
    #[arg(required_unless_present = "targets_file")]
    targets: Vec<Target>,
    /// Read targets from FILE too: one HOST[:PORT] per line, `#` comments
    #[arg(long = "targets", value_name = "FILE")]
    targets_file: Option<PathBuf>,
    /// Print one JSON object per target, one per line, as each scan finishes
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV: a header, then one row per target as each scan finishes
    #[arg(long)]
    csv: bool,
    /// Bound on every wait of every connection
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Name to check the certificate against (default: the target host)
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Targets scanned at once
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    concurrency: usize,
}

#[derive(Args)]
struct BenchArgs {
    /// HOST[:PORT] to load; without it, the built-in mock servers in-process
    target: Option<Target>,
    /// Built-in scenarios to load (default: success_tls and success_hybrid_ex)
    #[arg(long)]
    scenario: Vec<Scenario>,
    /// Connections to make per run
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    connections: usize,
    /// Connections in flight at once
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    concurrency: usize,
    /// Load-generator threads (default: every core, less one for the in-process server)
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Run for this long instead of a number of connections (e.g. 10s)
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Also run a raw TLS handshake loop (same certificate and key type) and report ratios;
    /// `wire` adds each run's wire floor: its exchanges, bytes and round trips replayed with
    /// no RDP work
    #[arg(long, value_parser = ["tls", "wire"])]
    baseline: Option<String>,
    /// With --baseline: split the load into this many short rounds, each running every
    /// scenario and the baseline in turn, after one warm-up round; the ratio is the mean of
    /// the middle half of the rounds' (default: about 50 connections per round, at most 40
    /// rounds)
    #[arg(long, value_parser = at_least_one)]
    rounds: Option<usize>,
    /// Leave the threads to the scheduler (by default, with the built-in servers, the load
    /// threads run on every allowed CPU but the last and the servers on the last)
    #[arg(long)]
    no_affinity: bool,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Connection options shared by `probe`, `check` and `bench`.
#[derive(Args, Clone)]
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
    /// Protocols to offer, from rdp,tls,hybrid,hybrid_ex [default: tls,hybrid,hybrid_ex, or
    /// what a .rdp file asks for]
    #[arg(long)]
    security: Option<SecurityProtocols>,
    /// Timeout for each stage (e.g. 10s, 500ms)
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Timeout for the TCP connect (default: the stage timeout)
    #[arg(long, value_parser = parse_duration)]
    connect_timeout: Option<Duration>,
    /// Stop successfully once this stage is reached
    #[arg(long)]
    until: Option<Stage>,
    /// Certificate policy: strict, default, warn or ignore [default: default, or what a .rdp
    /// file's authentication level asks for]
    #[arg(long)]
    cert_policy: Option<CertPolicy>,
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
    pin: Option<Pin>,
    /// Trust on first use with this known-hosts file: record each host's certificate at first contact, fail when it changes
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Trust on first use with the default known-hosts file ($XDG_CONFIG_HOME/rdpscope/known_hosts)
    #[arg(long, conflicts_with = "known_hosts")]
    tofu: bool,
}

/// A value that must be at least 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether the command is `name` (`check`: a monitoring plugin says UNKNOWN, exit 3 on
/// stdout where the monitoring system reads it, for bad arguments and internal errors).
fn is_command(name: &str) -> bool {
    std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .is_some_and(|command| command == name)
}

/// The plugin's UNKNOWN: one line on stdout, exit 3.
fn unknown(message: impl std::fmt::Display) -> u8 {
    let line = rdpscope::text::escape(&message.to_string()).replace('|', "/");
    let _ = writeln!(std::io::stdout().lock(), "RDP UNKNOWN - {line}");
    rdpscope::check::Status::Unknown.code()
}

fn main() -> ExitCode {
    let check = is_command("check");
    let serve = is_command("serve");
    // A panic is a bug in rdpscope, never the server's doing: exit 1, as documented. A mock
    // server says so and keeps serving: the panic ends only the connection it happened in
    // (its task), as a client's bad input must not stop a QA team's server.
    std::panic::set_hook(Box::new(move |info| {
        let message = format!("internal error (a bug, please report it): {info}");
        if check {
            std::process::exit(i32::from(unknown(message)));
        }
        say(message);
        if !serve {
            std::process::exit(i32::from(EXIT_INTERNAL));
        }
    }));
    match run() {
        Ok(code) => code,
        Err(Fail::Usage(message) | Fail::Internal(message)) if check => {
            ExitCode::from(unknown(message))
        }
        Err(Fail::Usage(message)) => {
            say(message);
            ExitCode::from(EXIT_USAGE)
        }
        Err(Fail::Internal(message)) => {
            say(message);
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

fn run() -> Outcome {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    rdpscope::logging::init(cli.verbose, matches!(cli.command, Command::Serve(_)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::internal(format_args!("cannot start the runtime: {e}")))?;
    let code = match cli.command {
        Command::Probe(args) => runtime.block_on(probe(*args)),
        Command::Bench(args) => runtime.block_on(bench(*args)),
        Command::Scan(args) => runtime.block_on(scan(args)),
        Command::Check(args) => runtime.block_on(check(*args)),
        Command::Suite(args) => runtime.block_on(suite(args)),
        Command::Demo { json } => runtime.block_on(demo(json)),
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Scenarios { json } => scenarios(json),
        Command::Explain {
            code,
            extended,
            json,
        } => explain(&code, extended.as_deref(), json),
        Command::Fixtures(FixturesCommand::Generate { dir }) => generate_fixtures(&dir),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "rdpscope", &mut script);
            emit(&String::from_utf8_lossy(&script)).map(|()| ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| Fail::internal(format_args!("cannot render the manual: {e}")))?;
            emit(&String::from_utf8_lossy(&page)).map(|()| ExitCode::SUCCESS)
        }
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
fn clap_error(error: &clap::Error) -> Outcome {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            Ok(ExitCode::from(
                u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE),
            ))
        }
        _ => {
            let rendered = error.render().to_string();
            let line = rendered.lines().next().unwrap_or("invalid command line");
            Err(Fail::usage(line.strip_prefix("error: ").unwrap_or(line)))
        }
    }
}

/// Writes a command's output to stdout. A closed pipe (`rdpscope ... | head -1`) ends the
/// output quietly and the command keeps its exit code; any other write error is an
/// internal error (exit 1).
fn emit(text: &str) -> Result<(), Fail> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fail::internal(format_args!("cannot write the output: {e}"))),
    }
}

/// Scans every target, at most `--concurrency` at once, and writes each result as it
/// finishes (one JSON object per line with `--json`).
async fn scan(args: ScanArgs) -> Outcome {
    let mut targets = args.targets;
    if let Some(path) = &args.targets_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Fail::usage(format_args!("cannot read {}: {e}", path.display())))?;
        // Every line is checked before anything is sent.
        targets.extend(
            rdpscope::scan::read_targets(&path.display().to_string(), &text)
                .map_err(Fail::usage)?,
        );
    }
    let mut options = rdpscope::scan::ScanOptions::default();
    options.timeout = args.timeout;
    options.server_name = args.server_name;
    let options = std::sync::Arc::new(options);
    let total = targets.len();
    let progress = progress_bar(total, "targets");
    if args.csv {
        emit(&csv_line(&rdpscope::scan::CSV_HEADER.map(str::to_owned))?)?;
    }
    let mut summary = rdpscope::scan::Summary::default();
    let work = targets.into_iter().map(|target| {
        let options = std::sync::Arc::clone(&options);
        async move { rdpscope::scan::scan(&target, &options).await }
    });
    rdpscope::tasks::bounded(work, args.concurrency, |_, done| {
        // One broken target never stops the run: a scan that panicked would be a bug,
        // reported, and the others go on.
        let report = match done {
            Ok(report) => report,
            Err(e) => {
                progress.suspend(|| say(format_args!("internal error in a scan: {e}")));
                return Ok(());
            }
        };
        summary.add(&report);
        progress.inc(1);
        let text = if args.csv {
            csv_line(&rdpscope::scan::csv_record(&report))?
        } else if args.json {
            let line = serde_json::to_string(&report)
                .map_err(|e| Fail::internal(format_args!("cannot serialise the output: {e}")))?;
            format!("{line}\n")
        } else {
            rdpscope::scan::render(&report)
        };
        progress.suspend(|| emit(&text))
    })
    .await?;
    progress.finish_and_clear();
    if !args.json && !args.csv && total > 1 {
        emit(&format!("\n{}", summary.render()))?;
    }
    Ok(if summary.unscanned > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar on stderr when it is a terminal and there is more than one item.
fn progress_bar(total: usize, unit: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || total < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit}, {{per_sec}}, eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Runs a suite: every case checked before anything is sent, at most `--concurrency` at
/// once; the table (or JSON) on stdout, JUnit XML to `--junit`.
async fn suite(args: SuiteArgs) -> Outcome {
    let mut suite = rdpscope::suite::read(&args.file).map_err(Fail::usage)?;
    suite.filter(&args.filter).map_err(Fail::usage)?;
    if args.list {
        emit(&suite.render_list())?;
        return Ok(ExitCode::SUCCESS);
    }
    // A JUnit file that cannot be written is bad input, found before anything is sent.
    if let Some(path) = &args.junit {
        std::fs::File::create(path)
            .map_err(|e| Fail::usage(format_args!("cannot write {}: {e}", path.display())))?;
    }
    let progress = progress_bar(suite.cases.len(), "cases");
    let result = rdpscope::suite::run(&suite, args.concurrency, |case| {
        progress.inc(1);
        if case.status != rdpscope::suite::Status::Passed {
            let name = rdpscope::text::escape(&case.name);
            progress.println(format!("{}: {name}", case.status.name()));
        }
    })
    .await;
    progress.finish_and_clear();
    if let Some(path) = &args.junit {
        let xml = rdpscope::suite::junit(&result).map_err(Fail::internal)?;
        std::fs::write(path, xml)
            .map_err(|e| Fail::usage(format_args!("cannot write {}: {e}", path.display())))?;
    }
    output(args.json, &result, rdpscope::suite::SuiteResult::render)?;
    Ok(if result.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One CSV record as text (the `csv` crate quotes and escapes).
fn csv_line(record: &[String]) -> Result<String, Fail> {
    let fail = |e: &dyn std::fmt::Display| Fail::internal(format_args!("cannot write CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(record).map_err(|e| fail(&e))?;
    let bytes = writer.into_inner().map_err(|e| fail(&e))?;
    String::from_utf8(bytes).map_err(|e| fail(&e))
}

/// Writes the `--pcap` and `--keylog` files of a probe, and says on stderr what they hold.
fn write_capture(args: &ProbeArgs, capture: &rdpscope::capture::Capture) -> Result<(), Fail> {
    use rdpscope::capture::Credentials;
    let write = |path: &std::path::Path, bytes: &[u8]| {
        std::fs::write(path, bytes)
            .map_err(|e| Fail::usage(format_args!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &args.pcap {
        let credentials = if args.pcap_include_credentials {
            Credentials::Keep
        } else {
            Credentials::Redact
        };
        let written = capture.pcapng(credentials);
        write(path, &written.bytes)?;
        let secrets = match (&written.secrets_left_out, written.secrets_embedded) {
            (Some(why), _) => format!(
                "TLS secrets left out ({why}): the TLS records stay encrypted; --keylog writes them"
            ),
            (None, true) if credentials == Credentials::Keep => {
                "TLS secrets embedded; credentials NOT redacted (--pcap-include-credentials): the file can crack the password".to_owned()
            }
            (None, true) => format!(
                "TLS secrets embedded; {} credential field(s) blanked",
                written.redacted
            ),
            (None, false) => "no TLS session".to_owned(),
        };
        say(format_args!(
            "capture: wrote {} ({} packets; {secrets})",
            path.display(),
            written.packets
        ));
    }
    if let Some(path) = &args.keylog {
        write(path, capture.keylog().as_bytes())?;
        say(format_args!("keylog: wrote {}", path.display()));
    }
    Ok(())
}

/// Writes `value` as pretty JSON (`--json`), or `human` as it renders it.
fn output<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<(), Fail> {
    if json {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Fail::internal(format_args!("cannot serialise the output: {e}")))?;
        emit(&format!("{text}\n"))
    } else {
        emit(&human(value))
    }
}

/// A documented exit code (a stage's, or a report's) as the process's.
fn exit_with(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(EXIT_INTERNAL))
}

async fn demo(json: bool) -> Outcome {
    let rows = rdpscope::demo::run_demo()
        .await
        .map_err(|e| Fail::internal(format_args!("cannot run the demo: {e}")))?;
    output(json, &rows, |rows| rdpscope::demo::render_demo(rows))?;
    Ok(if rows.iter().all(|row| row.matches) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INTERNAL)
    })
}

async fn serve(args: ServeArgs) -> Outcome {
    let (scenario, listen) = (args.scenario, args.listen);
    let mut builder = MockServer::builder().scenario(scenario).listen(listen);
    // The mock's own, published test credentials (README), unless the team brings its own.
    let mut account = format!("user {MOCK_USER}, password {MOCK_PASSWORD}");
    if let Some(spec) = &args.credentials {
        let (user, variable) = spec
            .split_once(':')
            .filter(|(user, variable)| !user.is_empty() && !variable.is_empty())
            .ok_or_else(|| Fail::usage("--credentials takes USER:ENVVAR"))?;
        let password = std::env::var(variable)
            .ok()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                Fail::usage(format_args!(
                    "--credentials: the environment variable {variable} holds no password"
                ))
            })?;
        let (domain, user) = match user.split_once('\\') {
            Some((domain, user)) => (Some(domain), user),
            None => (None, user),
        };
        builder = builder.credentials(user, domain, &password);
        account = format!("user {user}, password from ${variable}");
    }
    if let (Some(cert), Some(key)) = (&args.certificate, &args.key) {
        use rustls::pki_types::pem::PemObject as _;
        let chain = read_pem_certificates(cert).map_err(|e| {
            Fail::usage(format_args!(
                "cannot read --certificate {}: {e}",
                cert.display()
            ))
        })?;
        let key_der = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Fail::usage(format_args!("cannot read --key {}: {e}", key.display())))?;
        builder = builder.certificate_chain(
            chain.into_iter().map(|c| c.to_vec()).collect(),
            key_der.secret_der().to_vec(),
        );
    }
    let server = builder
        .start()
        .await
        .map_err(|e| Fail::usage(format_args!("cannot serve on {listen}: {e}")))?;
    let _ = writeln!(
        std::io::stderr().lock(),
        "Serving scenario {} on {} ({account}); Ctrl-C to stop\nExpected probe result: {}",
        scenario.name(),
        server.addr(),
        scenario.expected().summary()
    );
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn bench(args: BenchArgs) -> Outcome {
    let mut probe = probe_options(&args.connect)?;
    let scenarios = if args.scenario.is_empty() {
        vec![Scenario::SuccessTls, Scenario::SuccessHybridEx]
    } else {
        args.scenario
    };
    if args.target.is_none() && probe.credentials.is_none() {
        probe.credentials = Some(rdpscope::mock::credentials());
    }
    let options = rdpscope::bench::BenchOptions {
        connections: args.connections,
        concurrency: args.concurrency,
        duration: args.duration,
        probe,
        progress: !args.json && std::io::stderr().is_terminal(),
        threads: args.threads,
        rounds: args.rounds,
        affinity: !args.no_affinity,
    };
    let baseline = args.baseline.as_deref().map(|name| match name {
        "wire" => rdpscope::bench::Baseline::Wire,
        _ => rdpscope::bench::Baseline::Tls,
    });
    let report = rdpscope::bench::run(args.target, &scenarios, baseline, &options)
        .await
        .map_err(|e| Fail::internal(format_args!("cannot run the benchmark: {e}")))?;
    for warning in report.warnings() {
        say(format_args!("warning: {warning}"));
    }
    output(args.json, &report, rdpscope::bench::render)?;
    // A run in which no connection reached the end stage measured nothing: it fails with
    // the exit code of the stage most of its connections failed at.
    Ok(match report.empty_run() {
        Some((run, Some(stage))) => {
            say(format_args!(
                "no connection of {} reached the end stage; most failed at {stage}",
                run.label
            ));
            exit_with(stage.exit_code())
        }
        Some((run, None)) => {
            say(format_args!("no connection of {} completed", run.label));
            ExitCode::from(EXIT_INTERNAL)
        }
        None => ExitCode::SUCCESS,
    })
}

fn explain(code: &str, extended: Option<&str>, json: bool) -> Outcome {
    let explanation = rdpscope::diagnosis::explain(code, extended).map_err(Fail::usage)?;
    output(json, &explanation, rdpscope::diagnosis::render_explanation)?;
    Ok(ExitCode::SUCCESS)
}

fn generate_fixtures(dir: &std::path::Path) -> Outcome {
    rdpscope::fixtures::generate(dir).map_err(|e| {
        Fail::internal(format_args!(
            "cannot write fixtures to {}: {e}",
            dir.display()
        ))
    })?;
    emit(&format!(
        "wrote {} fixtures, {} and {} to {}\n",
        rdpscope::fixtures::FIXTURES.len(),
        rdpscope::fixtures::TEST_CA_FILE,
        rdpscope::fixtures::MANIFEST_FILE,
        dir.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn scenarios(json: bool) -> Outcome {
    let entries = rdpscope::mock::catalogue();
    output(json, &entries, |entries| {
        rdpscope::mock::render_catalogue(entries)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The password: the first line of stdin with `--password-stdin`, else `RDPSCOPE_PASSWORD`.
fn password(args: &ConnectArgs) -> Result<Option<Secret>, Fail> {
    if args.password_stdin {
        if args.user.is_none() {
            return Err(Fail::usage("--password-stdin needs --user"));
        }
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Fail::usage(format_args!("cannot read the password from stdin: {e}")))?;
        let password = line.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(Fail::usage("--password-stdin read an empty password"));
        }
        return Ok(Some(Secret::new(password.to_owned())));
    }
    match std::env::var("RDPSCOPE_PASSWORD") {
        Ok(password) if password.is_empty() => Err(Fail::usage("RDPSCOPE_PASSWORD is empty")),
        Ok(password) => Ok(Some(Secret::new(password))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Fail::usage("RDPSCOPE_PASSWORD is not valid UTF-8"))
        }
    }
}

/// The command line's connection settings (the password read from where it is given).
fn settings(args: &ConnectArgs) -> Result<ConnectSettings, Fail> {
    let password = password(args)?;
    if args.user.is_some() && password.is_none() {
        say("--user given without a password (RDPSCOPE_PASSWORD or --password-stdin): probing without credentials");
    }
    let known_hosts = match (&args.known_hosts, args.tofu) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(rdpscope::cert::known_hosts::default_path().ok_or_else(|| {
            Fail::usage("--tofu needs a configuration directory: set XDG_CONFIG_HOME or HOME, or use --known-hosts FILE")
        })?),
        (None, false) => None,
    };
    let mut settings = ConnectSettings::default();
    settings.user = args.user.clone();
    settings.domain = args.domain.clone();
    settings.password = password;
    settings.security = args.security;
    settings.timeout = Some(args.timeout);
    settings.connect_timeout = args.connect_timeout;
    settings.until = args.until;
    settings.cert_policy = args.cert_policy;
    settings.ca_file = args.ca_file.clone();
    settings.server_name = args.server_name.clone();
    settings.expiry_warning_days = Some(args.expiry_warning_days);
    settings.pin = args.pin.clone();
    settings.known_hosts = known_hosts;
    Ok(settings)
}

/// A file named by an option that cannot be used, with the option's name.
fn setting_error(error: rdpscope::options::SettingError) -> Fail {
    Fail::usage(format_args!("{}: {}", error.flag(), error.message))
}

fn probe_options(args: &ConnectArgs) -> Result<ProbeOptions, Fail> {
    settings(args)?
        .options(&ProbeOptions::default())
        .map_err(setting_error)
}

/// A probe judged as a monitoring plugin: the status line, the performance data, the stage
/// table; the status is the exit code.
async fn check(args: CheckArgs) -> Outcome {
    let (target, options, not_honoured) = connection(&args.target, &args.connect)?;
    let check = rdpscope::check::CheckOptions {
        warning: args.warning,
        critical: args.critical,
        warn_days: args.warn_days,
        crit_days: args.crit_days,
        expect_nla: args.expect_nla,
    };
    let nla = async {
        match check.expect_nla {
            true => Some(rdpscope::check::nla_required(&target, options.stage_timeout).await),
            false => None,
        }
    };
    let (mut report, nla) = tokio::join!(rdpscope::probe(&target, &options), nla);
    report.not_honoured = not_honoured;
    let result = rdpscope::check::evaluate(&report, &check, nla.as_ref());
    emit(&result.render())?;
    Ok(ExitCode::from(result.status.code()))
}

/// The target and options of a probe: HOST[:PORT] with the command line's options, or a
/// `.rdp` file's target and settings, which the command line's options override; and what
/// of the file cannot be honoured.
fn connection(
    target: &str,
    connect: &ConnectArgs,
) -> Result<(Target, ProbeOptions, Vec<String>), Fail> {
    let (target, settings, not_honoured) =
        rdpscope::options::resolve(target, settings(connect)?).map_err(Fail::usage)?;
    let options = settings
        .options(&ProbeOptions::default())
        .map_err(setting_error)?;
    Ok((target, options, not_honoured))
}

async fn probe(args: ProbeArgs) -> Outcome {
    let (target, options, not_honoured) = connection(&args.target, &args.connect)?;
    let mut report = if args.pcap.is_some() || args.keylog.is_some() {
        let (report, capture) = rdpscope::probe_with_capture(&target, &options).await;
        write_capture(&args, &capture)?;
        report
    } else {
        rdpscope::probe(&target, &options).await
    };
    report.not_honoured = not_honoured;
    // Warnings go to stderr too, so that they reach the user whatever reads stdout.
    for warning in &report.warnings {
        say(format_args!("warning: {}", rdpscope::text::escape(warning)));
    }
    let render = if args.trace {
        rdpscope::report::render_human_traced
    } else {
        rdpscope::report::render_human
    };
    output(args.json, &report, render)?;
    Ok(exit_with(report.exit_code()))
}
