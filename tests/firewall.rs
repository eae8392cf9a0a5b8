//! The probe against a real kernel firewall: each way a firewall blocks a connection (drop,
//! TCP reset, ICMP host / network / port unreachable, administratively prohibited) gets its
//! own kind and a message that says what answered and who sent it.
//!
//! Each test builds its own network namespaces (`ip netns`), named with the test process's
//! pid: client -- router -- server, on 192.0.2.0/24 and 198.51.100.0/24 (2001:db8:1::/64 and
//! 2001:db8:2::/64), with nftables rules in the router's forward chain, one TCP port per
//! behaviour, and a rule in the server's own input chain. The probe runs in the client
//! namespace, the mock RDP server in the server namespace. Only the namespaces' own
//! addresses are ever targets. A guard deletes the namespaces and stops the server even when
//! an assertion fails. Needs root, `ip` (iproute2) and `nft` (nftables): without them the
//! tests print `SKIP` and pass, except under `CI`, where they fail.

mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::tools::{require_root, require_tools};

const ROUTER_CLIENT_SIDE_V4: &str = "192.0.2.1";
const SERVER_V4: &str = "198.51.100.2";
/// An address of the server namespace that the client has no route to.
const SERVER_UNROUTED_V4: &str = "203.0.113.2";
const ROUTER_CLIENT_SIDE_V6: &str = "2001:db8:1::1";
const SERVER_V6: &str = "2001:db8:2::2";

/// The router's rules: one port per way of blocking.
const ROUTER_RULES: &str = "
table ip rdpscope_test {
    chain forward {
        type filter hook forward priority 0; policy accept;
        tcp dport 3390 drop
        tcp dport 3391 reject with tcp reset
        tcp dport 3392 reject with icmp type host-unreachable
        tcp dport 3393 reject with icmp type admin-prohibited
        tcp dport 3394 reject with icmp type port-unreachable
        tcp dport 3395 reject with icmp type net-unreachable
    }
}
table ip6 rdpscope_test {
    chain forward {
        type filter hook forward priority 0; policy accept;
        tcp dport 3390 drop
        tcp dport 3393 reject with icmpv6 type admin-prohibited
        tcp dport 3394 reject with icmpv6 type port-unreachable
    }
}
";

/// The server's own rule: the target itself answers with an ICMP error.
const SERVER_RULES: &str = "
table inet rdpscope_test {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 3396 reject with icmp type port-unreachable
    }
}
";

/// Whether the test can run here (root, `ip`, `nft`); prints SKIP or panics under CI.
fn lab_available(test_name: &str) -> bool {
    require_tools(
        &["ip", "nft"],
        "install iproute2 and nftables: .ci/install-netns.sh",
        test_name,
    ) && require_root("network namespaces and nftables rules", test_name)
}

/// Runs a command to completion, panicking with its output when it fails.
fn run(program: &str, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Three namespaces, deleted (and the mock server stopped) when dropped.
struct Lab {
    client: String,
    router: String,
    server: String,
    created: Vec<String>,
    serve: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut serve) = self.serve.take() {
            let _ = serve.kill();
            let _ = serve.wait();
        }
        for namespace in self.created.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Lab {
    /// Builds client -- router -- server with routes, forwarding and the rules.
    fn build(tag: &str) -> Self {
        let name = |role: &str| format!("rdpscope-{}-{tag}-{role}", std::process::id());
        let mut lab = Lab {
            client: name("client"),
            router: name("router"),
            server: name("server"),
            created: Vec::new(),
            serve: None,
        };
        for namespace in [lab.client.clone(), lab.router.clone(), lab.server.clone()] {
            // A namespace left over by a killed run of a process with the same pid.
            let _ = Command::new("ip")
                .args(["netns", "del", &namespace])
                .stderr(Stdio::null())
                .status();
            run("ip", &["netns", "add", &namespace], None);
            lab.created.push(namespace.clone());
            // No duplicate address detection on the interfaces made below, link-local
            // addresses included: IPv6 works as soon as the links are up.
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &namespace,
                    "sh",
                    "-c",
                    "echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad && \
                     echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad",
                ],
                None,
            );
            lab.ip(&namespace, &["link", "set", "lo", "up"]);
        }
        let (c, r, s) = (lab.client.clone(), lab.router.clone(), lab.server.clone());
        // veth pairs created inside the namespaces: no interface in the host namespace.
        lab.ip(
            &c,
            &[
                "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", &r,
            ],
        );
        lab.ip(
            &s,
            &[
                "link", "add", "s0", "type", "veth", "peer", "name", "r1", "netns", &r,
            ],
        );
        // nodad: the IPv6 addresses are usable at once, without duplicate address detection.
        for (namespace, device, addresses) in [
            (&c, "c0", ["192.0.2.2/24", "2001:db8:1::2/64"]),
            (&r, "r0", ["192.0.2.1/24", "2001:db8:1::1/64"]),
            (&r, "r1", ["198.51.100.1/24", "2001:db8:2::1/64"]),
            (&s, "s0", ["198.51.100.2/24", "2001:db8:2::2/64"]),
        ] {
            lab.ip(namespace, &["addr", "add", addresses[0], "dev", device]);
            lab.ip(
                namespace,
                &["addr", "add", addresses[1], "dev", device, "nodad"],
            );
        }
        // Links up once every address is there (see `wait_for_ipv6` for when they work).
        for (namespace, device) in [(&c, "c0"), (&r, "r0"), (&r, "r1"), (&s, "s0")] {
            lab.ip(namespace, &["link", "set", device, "up"]);
        }
        lab.ip(
            &s,
            &[
                "addr",
                "add",
                &format!("{SERVER_UNROUTED_V4}/32"),
                "dev",
                "lo",
            ],
        );
        lab.ip(&c, &["route", "add", "198.51.100.0/24", "via", "192.0.2.1"]);
        lab.ip(
            &c,
            &["route", "add", "2001:db8:2::/64", "via", "2001:db8:1::1"],
        );
        lab.ip(&s, &["route", "add", "192.0.2.0/24", "via", "198.51.100.1"]);
        lab.ip(
            &s,
            &["route", "add", "2001:db8:1::/64", "via", "2001:db8:2::1"],
        );
        // Forward, and answer every rejected SYN (no ICMP rate limit).
        run(
            "ip",
            &[
                "netns",
                "exec",
                &r,
                "sh",
                "-c",
                "echo 1 >/proc/sys/net/ipv4/ip_forward && \
                 echo 1 >/proc/sys/net/ipv6/conf/all/forwarding && \
                 echo 0 >/proc/sys/net/ipv4/icmp_ratelimit && \
                 echo 0 >/proc/sys/net/ipv6/icmp/ratelimit",
            ],
            None,
        );
        run(
            "ip",
            &["netns", "exec", &r, "nft", "-f", "-"],
            Some(ROUTER_RULES),
        );
        run(
            "ip",
            &["netns", "exec", &s, "nft", "-f", "-"],
            Some(SERVER_RULES),
        );
        lab.wait_for_ipv6();
        lab
    }

    /// Waits (bounded) until IPv6 works on every link. The kernel reports a veth's carrier
    /// through the link watch, up to a second later (it is rate limited), and only then
    /// does IPv6 configure the link (link-local address, multicast route): neighbour
    /// solicitations sent before that go unanswered.
    fn wait_for_ipv6(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for (namespace, device) in [
            (&self.client, "c0"),
            (&self.router, "r0"),
            (&self.router, "r1"),
            (&self.server, "s0"),
        ] {
            loop {
                let show = |args: &[&str]| {
                    let output = Command::new("ip")
                        .args(["-n", namespace])
                        .args(args)
                        .args(["dev", device])
                        .output()
                        .expect("ip");
                    String::from_utf8_lossy(&output.stdout).into_owned()
                };
                let link_local = show(&["-6", "addr", "show", "scope", "link"]);
                let tentative = show(&["-6", "addr", "show", "tentative"]);
                if link_local.contains("fe80::") && tentative.trim().is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{namespace} {device}: IPv6 not ready after 10 s: {link_local} {tentative}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn ip(&self, namespace: &str, args: &[&str]) {
        let mut full = vec!["-n", namespace];
        full.extend_from_slice(args);
        run("ip", &full, None);
    }

    /// Starts `rdpscope serve` in the server namespace and waits (bounded) until it listens.
    fn serve(&mut self, listen: &str) {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.server,
                env!("CARGO_BIN_EXE_rdpscope"),
            ])
            .args(["serve", "--scenario", "success_tls", "--listen", listen])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rdpscope serve");
        let stderr = child.stderr.take().expect("stderr");
        // `ip netns exec` execs the program: this child is the server itself.
        self.serve = Some(child);
        let (lines, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) if line.starts_with("Serving scenario") => return,
                Ok(line) => seen.push(line),
                Err(_) => panic!("rdpscope serve did not start on {listen}: {seen:#?}"),
            }
        }
    }

    /// Probes `target` from the client namespace; returns the exit code and the JSON report.
    fn probe(&self, target: &str) -> (i32, serde_json::Value) {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client,
                env!("CARGO_BIN_EXE_rdpscope"),
            ])
            .args(["probe", target, "--json"])
            .args(["--connect-timeout", "1s", "--timeout", "3s"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rdpscope probe");
        // Every wait of the probe is bounded; this bound only keeps a bug from hanging the suite.
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the probe of {target} did not end within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{target}: no JSON report ({e}): {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code().unwrap_or(-1), json)
    }
}

/// What one probe must report.
struct Expect {
    target: String,
    /// `None` for a connection that must succeed.
    kind: Option<&'static str>,
    /// Words the message must contain.
    words: Vec<String>,
    /// The first cause of the diagnosis.
    first_cause: Option<&'static str>,
}

fn expect(
    target: String,
    kind: Option<&'static str>,
    words: &[&str],
    first_cause: Option<&'static str>,
) -> Expect {
    Expect {
        target,
        kind,
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        first_cause,
    }
}

/// Probes every target and checks everything, then fails once with a table of what each
/// probe reported, so one run shows every behaviour.
fn check_all(lab: &Lab, cases: &[Expect]) {
    let mut problems = Vec::new();
    let mut table = Vec::new();
    for case in cases {
        let (code, report) = lab.probe(&case.target);
        let error = &report["error"];
        let (stage, kind, message) = (
            error["stage"].as_str().unwrap_or("-"),
            error["kind"].as_str().unwrap_or("-"),
            error["message"].as_str().unwrap_or("-"),
        );
        table.push(format!(
            "{:<24} exit {code:<3} {stage}/{kind}: {message}",
            case.target
        ));
        let mut problem = |what: String| problems.push(format!("{}: {what}", case.target));
        match case.kind {
            None => {
                if report["outcome"] != "connected" || code != 0 {
                    problem(format!("expected connected, got exit {code}"));
                }
                continue;
            }
            Some(expected) => {
                if (stage, kind) != ("tcp", expected) || code != 11 {
                    problem(format!("expected tcp/{expected} exit 11"));
                }
            }
        }
        for word in &case.words {
            if !message.contains(word.as_str()) {
                problem(format!("message lacks `{word}`"));
            }
        }
        let first = report["diagnosis"]["causes"][0]["id"].as_str();
        if first != case.first_cause {
            problem(format!(
                "first cause {first:?}, expected {:?}",
                case.first_cause
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nwhat each probe reported:\n{}",
        problems.join("\n"),
        table.join("\n")
    );
}

#[test]
fn every_way_a_firewall_blocks_ipv4_gets_its_own_verdict() {
    if !lab_available("every_way_a_firewall_blocks_ipv4_gets_its_own_verdict") {
        return;
    }
    let mut lab = Lab::build("v4");
    lab.serve(&format!("{SERVER_V4}:3389"));
    let target = |port: u16| format!("{SERVER_V4}:{port}");
    let router = format!("{ROUTER_CLIENT_SIDE_V4}, a router on the path");
    let itself = format!("the target itself ({SERVER_V4})");
    let cases = [
        // The path works: the failures below are the rules' doing.
        expect(target(3389), None, &[], None),
        expect(
            target(3390),
            Some("timeout"),
            &[
                &format!("filtered: no answer from {SERVER_V4}:3390 within 1 s"),
                "a firewall drops the packets or the host is down",
            ],
            Some("port_blocked"),
        ),
        expect(
            target(3391),
            Some("refused"),
            &[
                &format!("connection refused by {SERVER_V4}:3391"),
                "or a firewall rejects it",
            ],
            Some("service_not_listening"),
        ),
        expect(
            target(3392),
            Some("unreachable"),
            &[&router, "host unreachable (ICMP type 3 code 1)", "firewall"],
            Some("port_blocked"),
        ),
        expect(
            target(3393),
            Some("unreachable"),
            &[
                &router,
                "administratively prohibited (ICMP type 3 code 13)",
                "a firewall there rejects the connection",
            ],
            Some("port_blocked"),
        ),
        expect(
            target(3394),
            Some("unreachable"),
            &[
                &router,
                "port unreachable (ICMP type 3 code 3)",
                "a firewall there rejects the connection",
                "iptables' REJECT default",
            ],
            Some("port_blocked"),
        ),
        expect(
            target(3395),
            Some("unreachable"),
            &[
                &router,
                "network unreachable (ICMP type 3 code 0)",
                "firewall",
            ],
            Some("port_blocked"),
        ),
        // The server's own input chain: the target itself sends the ICMP error.
        expect(
            target(3396),
            Some("unreachable"),
            &[
                &itself,
                "port unreachable (ICMP type 3 code 3)",
                "a firewall on the host rejects the connection",
            ],
            Some("port_blocked"),
        ),
        // No rule, nothing listening: the host itself answers with a reset.
        expect(
            target(3397),
            Some("refused"),
            &[&format!("connection refused by {SERVER_V4}:3397")],
            Some("service_not_listening"),
        ),
        // No route from the client at all: no packet leaves it.
        expect(
            format!("{SERVER_UNROUTED_V4}:3389"),
            Some("unreachable"),
            &["this machine has no route to its network"],
            Some("port_blocked"),
        ),
    ];
    check_all(&lab, &cases);
}

#[test]
fn an_icmpv6_rejection_names_the_router_that_sent_it() {
    if !lab_available("an_icmpv6_rejection_names_the_router_that_sent_it") {
        return;
    }
    let lab = Lab::build("v6");
    let target = |port: u16| format!("[{SERVER_V6}]:{port}");
    let router = format!("{ROUTER_CLIENT_SIDE_V6}, a router on the path");
    let cases = [
        // The path works: the server's kernel answers a closed port with a reset.
        expect(
            target(3397),
            Some("refused"),
            &[&format!("connection refused by [{SERVER_V6}]:3397")],
            Some("service_not_listening"),
        ),
        expect(
            target(3390),
            Some("timeout"),
            &[&format!(
                "filtered: no answer from [{SERVER_V6}]:3390 within 1 s"
            )],
            Some("port_blocked"),
        ),
        expect(
            target(3393),
            Some("unreachable"),
            &[
                &router,
                "administratively prohibited (ICMPv6 type 1 code 1)",
                "a firewall there rejects the connection",
            ],
            Some("port_blocked"),
        ),
        expect(
            target(3394),
            Some("unreachable"),
            &[
                &router,
                "port unreachable (ICMPv6 type 1 code 4)",
                "a firewall there rejects the connection",
            ],
            Some("port_blocked"),
        ),
    ];
    check_all(&lab, &cases);
}
