//! Gate for tests that need an external program (a real RDP client, Xvfb, ...).
//!
//! Same rule as [`super::xrdp::require_xrdp`]: when a tool is missing the test prints a skip
//! notice and returns early, except under CI (env var `CI` set), where it panics so that a
//! broken CI image fails loudly instead of silently skipping.

use std::path::PathBuf;

/// Where `name` is on `PATH` (plus `/usr/bin`, `/usr/sbin`, which a non-root `PATH` may lack).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin".into(), "/usr/sbin".into()]);
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Returns `true` when every program in `tools` is installed and the test should run.
///
/// When one is missing: panics under CI (`CI` set), otherwise prints
/// `SKIP <test>: ...` with `install_hint` and returns `false`.
pub fn require_tools(tools: &[&str], install_hint: &str, test_name: &str) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| find_tool(tool).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test_name}: {missing} not installed but CI is set; {install_hint} before the tests"
        );
    }
    eprintln!("SKIP {test_name}: {missing} not installed ({install_hint}); set CI=1 to make this a failure");
    false
}

/// [`require_tools`] for a single program.
pub fn require_tool(name: &str, install_hint: &str, test_name: &str) -> bool {
    require_tools(&[name], install_hint, test_name)
}

/// Returns `true` when the test runs as root (effective uid 0) and should run.
///
/// Otherwise, like [`require_tools`]: panics under CI (`CI` set), else prints
/// `SKIP <test>: ...` and returns `false`.
pub fn require_root(why: &str, test_name: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    // "Uid:\treal\teffective\tsaved\tfs"
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if effective == Some("0") {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test_name}: needs root ({why}) but CI is set");
    }
    eprintln!("SKIP {test_name}: needs root ({why}); set CI=1 to make this a failure");
    false
}
