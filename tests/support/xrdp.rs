//! Test harness: run a real xrdp server (Debian package `xrdp`, 0.9.x) on 127.0.0.1.
//!
//! Facts this relies on (checked against xrdp 0.9.21.1 on Debian 12):
//! - `xrdp --nodaemon --config <ini>` stays in the foreground and does NOT write
//!   `/var/run/xrdp/xrdp.pid`, so any number of instances can run side by side.
//! - BUT xrdp refuses to start (exit 1, "It looks like xrdp is already running") when
//!   `/var/run/xrdp/xrdp.pid` exists, even with `--nodaemon`: a system xrdp daemon (or
//!   a stale pid file) blocks every test instance. The path is compiled in.
//! - `/etc/xrdp/rsakeys.ini` must exist (created by the package's postinst with
//!   `xrdp-keygen xrdp auto`), whatever `security_layer` says; the path is compiled in.
//! - `port=tcp://127.0.0.1:0` works: xrdp binds an ephemeral port. We read the port back
//!   from `/proc/<pid>/fd` + `/proc/<pid>/net/tcp`, so there is no pick-then-bind race.
//! - Certificate and key are read per connection, not at startup: a bad certificate
//!   shows up as RDP_NEG_FAILURE SSL_CERT_NOT_ON_SERVER (missing file) or a failed TLS
//!   handshake (key/cert mismatch), never as a startup error.
//! - xrdp-sesman is not needed to reach the end of the RDP connection sequence (xrdp
//!   then shows its own login screen); it is only contacted when a user logs in.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `start` waits for the listening socket before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The pid file every xrdp 0.9 binary checks at startup (compiled in, not configurable).
const SYSTEM_PID_FILE: &str = "/var/run/xrdp/xrdp.pid";
/// The Standard RDP Security key file every xrdp 0.9 binary needs (compiled in).
const RSAKEYS_INI: &str = "/etc/xrdp/rsakeys.ini";

/// Candidate locations of the xrdp binary (Debian installs it in /usr/sbin, which is
/// often not on a non-root PATH).
fn find_xrdp() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RDPSCOPE_XRDP_BIN") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/usr/local/sbin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join("xrdp"))
        .find(|p| p.is_file())
}

/// Whether an xrdp binary is installed on this machine.
pub fn xrdp_installed() -> bool {
    find_xrdp().is_some()
}

/// Gate for xrdp tests. Returns `true` when xrdp is available and the test should run.
///
/// When xrdp is missing: under CI (env var `CI` set) this panics, so a broken CI image
/// fails loudly instead of silently skipping; locally it prints a skip notice and
/// returns `false`.
pub fn require_xrdp(test_name: &str) -> bool {
    if xrdp_installed() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test_name}: xrdp is not installed but CI is set; run .ci/install-xrdp.sh \
             (apt-get install -y xrdp) before the tests"
        );
    }
    eprintln!("SKIP {test_name}: xrdp is not installed (apt-get install xrdp); set CI=1 to make this a failure");
    false
}

/// Security layer xrdp offers (`security_layer=` in xrdp.ini).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityLayer {
    /// Enhanced RDP Security (TLS) only. A client that offers only PROTOCOL_RDP gets
    /// RDP_NEG_FAILURE SSL_REQUIRED_BY_SERVER.
    Tls,
    /// TLS if the client offers it, else Standard RDP Security.
    Negotiate,
    /// Standard RDP Security only (RC4, `crypt_level`); answers PROTOCOL_RDP even when
    /// the client offered SSL only.
    Rdp,
}

impl SecurityLayer {
    fn as_ini(self) -> &'static str {
        match self {
            SecurityLayer::Tls => "tls",
            SecurityLayer::Negotiate => "negotiate",
            SecurityLayer::Rdp => "rdp",
        }
    }
}

/// Options for [`Xrdp::start_with`].
#[derive(Debug, Clone)]
pub struct XrdpOptions {
    /// Certificate chain, PEM. Leaf first.
    pub cert_pem: String,
    /// Private key, PEM. PKCS#8 or traditional (PKCS#1 RSA / SEC1 EC) are all accepted
    /// (xrdp hands them to OpenSSL): RSA, ECDSA P-256/P-384 and Ed25519 all work.
    pub key_pem: String,
    /// `security_layer=`.
    pub security_layer: SecurityLayer,
    /// `crypt_level=` (low|medium|high|fips), used by Standard RDP Security only.
    pub crypt_level: &'static str,
    /// `ssl_protocols=`, e.g. "TLSv1.2, TLSv1.3".
    pub ssl_protocols: &'static str,
    /// Extra `key=value` lines appended to `[Globals]`. A key given twice takes the
    /// last value (xrdp reads the items in order), so this can override the above.
    pub extra_globals: Vec<String>,
}

impl XrdpOptions {
    /// TLS-only server with the given certificate and key.
    pub fn tls(cert_pem: &str, key_pem: &str) -> Self {
        XrdpOptions {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            security_layer: SecurityLayer::Tls,
            crypt_level: "high",
            ssl_protocols: "TLSv1.2, TLSv1.3",
            extra_globals: Vec::new(),
        }
    }
}

/// A running xrdp instance; killed and reaped on drop.
pub struct Xrdp {
    /// Where xrdp listens (127.0.0.1, ephemeral port).
    pub addr: SocketAddr,
    /// Time from spawn until the listening socket was seen.
    pub startup: Duration,
    child: Child,
    tempdir: tempfile::TempDir,
}

impl Xrdp {
    /// Start a TLS-only xrdp with this certificate and key.
    pub fn start(cert_pem: &str, key_pem: &str) -> io::Result<Xrdp> {
        Self::start_with(XrdpOptions::tls(cert_pem, key_pem))
    }

    /// Start xrdp with explicit options.
    pub fn start_with(opts: XrdpOptions) -> io::Result<Xrdp> {
        let bin = find_xrdp().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "xrdp is not installed (looked in /usr/sbin, /usr/local/sbin, $PATH and \
                 $RDPSCOPE_XRDP_BIN); install it with .ci/install-xrdp.sh",
            )
        })?;

        let tempdir = tempfile::Builder::new()
            .prefix("rdpscope-xrdp-")
            .tempdir()?;
        let dir = tempdir.path();
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        let ini_path = dir.join("xrdp.ini");
        fs::write(&cert_path, &opts.cert_pem)?;
        fs::write(&key_path, &opts.key_pem)?;
        fs::write(
            &ini_path,
            render_ini(&opts, &cert_path, &key_path, &dir.join("xrdp.log")),
        )?;

        let console = fs::File::create(dir.join("console.log"))?;
        let started = Instant::now();
        let child = Command::new(&bin)
            .arg("--nodaemon")
            .arg("--config")
            .arg(&ini_path)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console)
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot spawn {}: {e}", bin.display()))
            })?;

        // From here on `Drop` cleans up the child if we bail out.
        let mut xrdp = Xrdp {
            addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
            startup: Duration::ZERO,
            child,
            tempdir,
        };

        loop {
            if let Some(status) = xrdp.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "xrdp exited early ({status}){}\n--- xrdp log tail ---\n{}",
                    xrdp.diagnose_hint(),
                    xrdp.log_tail(30)
                )));
            }
            if let Some(port) = listening_port(xrdp.child.id())? {
                xrdp.addr.set_port(port);
                xrdp.startup = started.elapsed();
                return Ok(xrdp);
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "xrdp did not listen within {START_TIMEOUT:?}\n--- xrdp log tail ---\n{}",
                        xrdp.log_tail(30)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The temp dir holding xrdp.ini, cert.pem, key.pem, xrdp.log and console.log.
    pub fn dir(&self) -> &Path {
        self.tempdir.path()
    }

    /// The last `lines` lines of xrdp's console output and log file.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for name in ["console.log", "xrdp.log"] {
            let text = fs::read_to_string(self.dir().join(name)).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            if all.is_empty() {
                continue;
            }
            let _ = writeln!(out, "[{name}]");
            for l in &all[all.len().saturating_sub(lines)..] {
                let _ = writeln!(out, "{l}");
            }
        }
        if out.is_empty() {
            out.push_str("(no output)\n");
        }
        out
    }

    fn diagnose_hint(&self) -> String {
        let tail = self.log_tail(50);
        if tail.contains("already running") {
            format!(
                ": {SYSTEM_PID_FILE} exists (a system xrdp daemon is running, or a stale pid file); \
                 xrdp refuses to start even with --nodaemon. Stop the daemon / remove the file"
            )
        } else if tail.contains("rsakeys.ini") {
            format!(": {RSAKEYS_INI} is missing; create it with `xrdp-keygen xrdp auto` (as root)")
        } else if tail.contains("trans_listen_address failed") {
            ": could not bind 127.0.0.1".to_owned()
        } else {
            String::new()
        }
    }
}

impl Drop for Xrdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn render_ini(opts: &XrdpOptions, cert: &Path, key: &Path, log: &Path) -> String {
    let mut ini = format!(
        "[Globals]
ini_version=1
fork=false
port=tcp://127.0.0.1:0
use_vsock=false
tcp_nodelay=true
tcp_keepalive=false
security_layer={security}
crypt_level={crypt}
certificate={cert}
key_file={key}
ssl_protocols={protocols}
autorun=
allow_channels=true
allow_multimon=true
bitmap_cache=true
bitmap_compression=true
bulk_compression=true
max_bpp=32
new_cursors=true
use_fastpath=both
",
        security = opts.security_layer.as_ini(),
        crypt = opts.crypt_level,
        cert = cert.display(),
        key = key.display(),
        protocols = opts.ssl_protocols,
    );
    for line in &opts.extra_globals {
        ini.push_str(line);
        ini.push('\n');
    }
    let _ = write!(
        ini,
        "
[Logging]
LogFile={log}
LogLevel=INFO
EnableSyslog=false
EnableConsole=false

[Channels]
rdpdr=true
rdpsnd=true
drdynvc=true
cliprdr=true
rail=true
xrdpvr=true
tcutils=true

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
",
        log = log.display()
    );
    ini
}

/// The TCP port process `pid` listens on (IPv4), read from /proc: the socket inodes
/// behind `/proc/<pid>/fd/*` matched against the LISTEN rows of `/proc/<pid>/net/tcp`.
fn listening_port(pid: u32) -> io::Result<Option<u16>> {
    let mut inodes = Vec::new();
    let fd_dir = match fs::read_dir(format!("/proc/{pid}/fd")) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in fd_dir.flatten() {
        if let Ok(target) = fs::read_link(entry.path()) {
            let t = target.to_string_lossy();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                inodes.push(inode.to_owned());
            }
        }
    }
    if inodes.is_empty() {
        return Ok(None);
    }
    let table = match fs::read_to_string(format!("/proc/{pid}/net/tcp")) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for row in table.lines().skip(1) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        if cols.len() < 10 || cols[3] != "0A" || !inodes.iter().any(|i| i == cols[9]) {
            continue;
        }
        if let Some((_, port_hex)) = cols[1].split_once(':') {
            if let Ok(port) = u16::from_str_radix(port_hex, 16) {
                if port != 0 {
                    return Ok(Some(port));
                }
            }
        }
    }
    Ok(None)
}
