//! The `rdpscope` command line: a thin shell over the library.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rdpscope::cert::{read_pem_certificates, CertPolicy, TrustStore};
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
    Probe(ProbeArgs),
}

#[derive(Args)]
struct ProbeArgs {
    /// HOST[:PORT] or [IPV6]:PORT (default port 3389)
    target: String,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
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
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("rdpscope: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => "warn",
        1 => "warn,rdpscope=debug",
        _ => "info,rdpscope=debug,ironrdp_connector=debug,ironrdp_acceptor=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RDPSCOPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rdpscope: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    match cli.command {
        Command::Probe(args) => runtime.block_on(probe(args)),
    }
}

fn probe_options(args: &ProbeArgs) -> Result<ProbeOptions, String> {
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
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        Some(Secret::new(line.trim_end_matches(['\r', '\n']).to_owned()))
    } else {
        std::env::var("RDPSCOPE_PASSWORD").ok().map(Secret::new)
    };
    let credentials = match (&args.user, password) {
        (Some(user), Some(password)) => Some(Credentials {
            user: user.clone(),
            domain: args.domain.clone(),
            password,
        }),
        (None, Some(_)) if args.password_stdin => {
            return Err("--password-stdin needs --user".to_owned())
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
    Ok(ProbeOptions {
        credentials,
        security: args.security.parse::<SecurityProtocols>()?,
        stage_timeout,
        connect_timeout: Duration::max(connect_timeout, Duration::from_millis(1)),
        until,
        cert_policy: args.cert_policy.parse::<CertPolicy>()?,
        trust,
        server_name: args.server_name.clone(),
    })
}

async fn probe(args: ProbeArgs) -> ExitCode {
    let target: Target = match args.target.parse() {
        Ok(target) => target,
        Err(e) => return usage_error(e),
    };
    let options = match probe_options(&args) {
        Ok(options) => options,
        Err(e) => return usage_error(e),
    };
    let report = rdpscope::probe(&target, &options).await;
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("rdpscope: cannot serialise the report: {e}");
                return ExitCode::from(EXIT_INTERNAL);
            }
        }
    } else {
        print!("{}", rdpscope::report::render_human(&report));
    }
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(EXIT_INTERNAL))
}
