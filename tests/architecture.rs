//! The invariants of ARCHITECTURE.md that the compiler does not check, checked by reading
//! the sources.

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = Vec::new();
    let mut pending = vec![root];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("a source directory") {
                pending.push(entry.expect("an entry").path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            out.push((path, text));
        }
    }
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

/// The code of a source file without its comments (line comments only: the sources use
/// no block comments), so that prose may name what code must not use.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn files_using(dir: &str, needle: &str) -> Vec<String> {
    sources(dir)
        .into_iter()
        .filter(|(_, text)| code(text).contains(needle))
        .map(|(path, _)| {
            path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(&path)
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn the_probe_never_imports_the_mocks_the_benchmark_the_demo_or_the_fixtures() {
    for needle in ["mock::", "bench::", "demo::", "fixtures::"] {
        assert_eq!(
            files_using("src/probe", needle),
            Vec::<String>::new(),
            "{needle}"
        );
    }
}

#[test]
fn the_mock_modules_form_no_circle_and_only_the_catalogue_names_scenarios() {
    for (file, needle) in [
        ("src/mock/wire.rs", "conn::"),
        ("src/mock/wire.rs", "raw::"),
        ("src/mock/raw.rs", "conn::"),
        ("src/mock/credssp.rs", "conn::"),
        ("src/mock/credssp.rs", "raw::"),
        ("src/mock/fault.rs", "conn::"),
        ("src/mock/fault.rs", "raw::"),
        ("src/mock/fault.rs", "scenario::"),
        // The connections act out a scenario's row; none of them names a scenario.
        ("src/mock/conn.rs", "Scenario"),
        ("src/mock/raw.rs", "Scenario"),
        ("src/mock/credssp.rs", "Scenario"),
        ("src/mock/wire.rs", "Scenario"),
        ("src/mock/fault.rs", "Scenario"),
    ] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .expect("a source file");
        assert!(!code(&text).contains(needle), "{file} uses {needle}");
    }
}

#[test]
fn the_knowledge_base_and_the_report_do_not_depend_on_the_probe() {
    for dir in ["src/diagnosis", "src/report", "src/cert"] {
        assert_eq!(files_using(dir, "probe::"), Vec::<String>::new(), "{dir}");
        assert_eq!(files_using(dir, "mock::"), Vec::<String>::new(), "{dir}");
    }
}

#[test]
fn the_knowledge_base_does_not_know_the_report_it_serves() {
    // The report embeds a diagnosis; the knowledge base takes a FailureKey, not a report.
    assert_eq!(
        files_using("src/diagnosis", "report::"),
        Vec::<String>::new()
    );
}

#[test]
fn every_network_wait_of_the_probe_is_bounded_by_the_stage_deadline() {
    let mut waits = files_using("src/probe", "time::timeout");
    waits.sort();
    assert_eq!(waits, ["src/probe/io.rs", "src/probe/net.rs"]);
}

#[test]
fn the_password_leaves_its_secret_only_into_credssp() {
    let mut all = files_using("src", ".expose()");
    all.sort();
    assert_eq!(all, ["src/probe/credssp.rs"]);
}

#[test]
fn only_the_logging_module_installs_a_subscriber() {
    assert_eq!(files_using("src", "tracing_subscriber"), ["src/logging.rs"]);
}

#[test]
fn every_module_says_what_it_is() {
    for (path, text) in sources("src") {
        assert!(
            text.starts_with("//!"),
            "{} has no module documentation",
            path.display()
        );
    }
}
