//! Test harness: run the real FreeRDP client (`xfreerdp` from Debian's `freerdp2-x11`, 2.11)
//! against a loopback server, on a private Xvfb display, with a hard timeout; other X11
//! clients (rdesktop) run the same way through [`run_on_display`].
//!
//! Facts this relies on (checked against xfreerdp 2.11.7 on Debian 12):
//! - xfreerdp needs an X display even with `/auth-only` (without `DISPLAY` it exits 1 with
//!   "failed to open display"), so every run gets its own Xvfb. We start Xvfb with
//!   `-displayfd` rather than using `xvfb-run -a`: the X server picks a free display number
//!   itself (atomically, through its lock file), so parallel tests never race for a number.
//! - xfreerdp writes `$HOME/.config/freerdp/...` (known hosts, certificates) even with
//!   `/cert:ignore`; `HOME` and `XDG_CONFIG_HOME` point into a temporary directory.
//! - Logs go to stdout (INFO/DEBUG) and stderr (WARN/ERROR) as
//!   `[time] [pid:tid] [LEVEL][tag] - message`; `WLOG_*` variables could redirect or filter
//!   them, so they are removed and `/log-level:WARN` is passed explicitly.
//! - The exit code is xfreerdp's `XF_EXIT_*` (client/X11/xf_client.h), e.g. 134 is
//!   XF_EXIT_LOGON_FAILURE, not SIGABRT.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long to wait for Xvfb to report its display.
const XVFB_START_TIMEOUT: Duration = Duration::from_secs(10);

/// xfreerdp's exit codes (`enum XF_EXIT_CODE`, client/X11/xf_client.h, FreeRDP 2.x).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const CONN_FAILED: i32 = 131;
    pub const NEGO_FAILURE: i32 = 133;
    pub const LOGON_FAILURE: i32 = 134;
    pub const ACCOUNT_LOCKED_OUT: i32 = 135;
    pub const PASSWORD_EXPIRED: i32 = 148;
    pub const PASSWORD_MUST_CHANGE: i32 = 149;
    pub const ACCOUNT_DISABLED: i32 = 151;
    pub const ACCOUNT_EXPIRED: i32 = 157;
    pub const LOGON_TYPE_NOT_GRANTED: i32 = 158;
    pub const TLS_CONNECT_FAILED: i32 = 143;
    pub const CONNECT_TRANSPORT_FAILED: i32 = 147;
}

/// The programs [`Xvfb::start`] and [`run_xfreerdp`] need.
pub const TOOLS: &[&str] = &["xfreerdp", "Xvfb"];
/// What to run when they are missing.
pub const INSTALL_HINT: &str =
    "run .ci/install-freerdp.sh (apt-get install --no-install-recommends freerdp2-x11 xvfb xauth)";

/// Where [`super::tools::require_tools`] found `name` (it also looks outside `PATH`).
fn program(name: &str) -> PathBuf {
    super::tools::find_tool(name).unwrap_or_else(|| name.into())
}

/// A private Xvfb server; killed and reaped on drop.
pub struct Xvfb {
    /// The `DISPLAY` value, e.g. `:3`.
    pub display: String,
    child: Child,
}

impl Xvfb {
    /// Start Xvfb on a display it picks itself. `log` receives its stderr.
    pub fn start(log: &Path) -> io::Result<Xvfb> {
        let mut child = Command::new(program("Xvfb"))
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "1024x768x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(log)?)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(result);
        });
        let display = match rx.recv_timeout(XVFB_START_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => format!(":{}", line.trim()),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = fs::read_to_string(log).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "Xvfb did not report a display ({other:?}); stderr:\n{stderr}"
                )));
            }
        };
        Ok(Xvfb { display, child })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of one xfreerdp run.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` when killed by a signal (our timeout included).
    pub code: Option<i32>,
    /// Whether we killed it at the timeout.
    pub timed_out: bool,
    /// stderr followed by stdout.
    pub log: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// The command line, for messages (the password is in it: test credentials only).
    pub command: String,
}

/// Run `xfreerdp args...` on `display` with `HOME` in `dir`; kill it after `timeout`.
pub fn run_xfreerdp(
    display: &str,
    args: &[String],
    dir: &Path,
    timeout: Duration,
) -> io::Result<Run> {
    run_on_display("xfreerdp", display, args, b"", dir, timeout)
}

/// Run the X11 client `program args...` on `display` with `HOME` in `dir` (and FreeRDP's
/// `WLOG_*` variables removed), `stdin` as its standard input; kill it after `timeout`.
pub fn run_on_display(
    program: &str,
    display: &str,
    args: &[String],
    stdin: &[u8],
    dir: &Path,
    timeout: Duration,
) -> io::Result<Run> {
    let home: PathBuf = dir.join("home");
    fs::create_dir_all(&home)?;
    let stdout_path = dir.join(format!("{program}.stdout"));
    let stderr_path = dir.join(format!("{program}.stderr"));
    let stdin_path = dir.join(format!("{program}.stdin"));
    fs::write(&stdin_path, stdin)?;
    let mut command = Command::new(self::program(program));
    command
        .args(args)
        .env("DISPLAY", display)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WLOG_APPENDER")
        .env_remove("WLOG_LEVEL")
        .env_remove("WLOG_FILTER")
        .env_remove("WLOG_PREFIX")
        .stdin(File::open(&stdin_path)?)
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    let started = Instant::now();
    let mut child = command.spawn()?;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let log = format!(
        "{}{}",
        fs::read_to_string(&stderr_path)?,
        fs::read_to_string(&stdout_path)?
    );
    Ok(Run {
        code: status.code(),
        timed_out,
        log,
        elapsed,
        command: format!("{program} {}", args.join(" ")),
    })
}

/// `xfreerdp --version`'s first line, for failure messages (it too needs a display).
pub fn xfreerdp_version(display: &str) -> String {
    Command::new(program("xfreerdp"))
        .arg("--version")
        .env("DISPLAY", display)
        .stdin(Stdio::null())
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_else(|e| format!("xfreerdp --version: {e}"))
}
