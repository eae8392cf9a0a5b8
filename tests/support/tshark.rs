//! Reading a capture back with the real tshark: what Wireshark shows a person who opens it.

use std::path::Path;

/// One packet as tshark lists it.
#[derive(Debug, Clone)]
pub struct Row {
    pub number: u32,
    pub protocol: String,
    pub info: String,
    /// rdpscope's packet comment, if any.
    pub comment: String,
}

fn run(file: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every packet: number, protocol, info column, comment.
pub fn packets(file: &Path) -> Vec<Row> {
    run(
        file,
        &[
            "-T",
            "fields",
            "-E",
            "separator=\t",
            "-e",
            "frame.number",
            "-e",
            "_ws.col.Protocol",
            "-e",
            "_ws.col.Info",
            "-e",
            "frame.comment",
        ],
    )
    .lines()
    .map(|line| {
        let mut parts = line.split('\t');
        let mut next = || parts.next().unwrap_or_default().to_owned();
        Row {
            number: next().parse().unwrap_or(0),
            protocol: next(),
            info: next(),
            comment: next(),
        }
    })
    .collect()
}

/// The values of `field` in every packet that has it.
pub fn values(file: &Path, field: &str) -> Vec<String> {
    run(file, &["-T", "fields", "-e", field])
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether tshark is installed (skip notice, or a failure under CI, otherwise).
pub fn require(test: &str) -> bool {
    super::tools::require_tool("tshark", "run .ci/install-tshark.sh", test)
}
