#!/bin/sh
# 1,000 suite cases against a handful of mock servers (five `rdpscope serve` processes on
# loopback ports the kernel picks), at concurrency 100: wall time and peak memory of the
# suite process (GNU time). Not a test: a measurement for the README.
#
#   cargo build --release && sh benches/suite-1000.sh [CASES] [CONCURRENCY]
set -eu

bin="${RDPSCOPE:-target/release/rdpscope}"
cases="${1:-1000}"
concurrency="${2:-100}"
dir="$(mktemp -d)"
trap 'kill $(cat "$dir"/pids) 2>/dev/null; rm -rf "$dir"' EXIT

: > "$dir/pids"
for scenario in success_tls success_hybrid_ex wrong_password certificate_expired \
    negotiation_failure_hybrid_required_by_server; do
    "$bin" serve --scenario "$scenario" --listen 127.0.0.1:0 2> "$dir/$scenario.log" &
    echo $! >> "$dir/pids"
done
for scenario in success_tls success_hybrid_ex wrong_password certificate_expired \
    negotiation_failure_hybrid_required_by_server; do
    while ! grep -q "^Serving" "$dir/$scenario.log"; do sleep 0.1; done
done
addr() { sed -n 's/^Serving scenario [a-z0-9_]* on \([0-9.:]*\) .*/\1/p' "$dir/$1.log"; }

{
    printf '[defaults]\nuser = "rdpscope"\npassword_env = "MOCK_PASSWORD"\ntimeout = "10s"\n\n'
    i=0
    while [ "$i" -lt "$cases" ]; do
        case $((i % 5)) in
        0) printf '[[case]]\nname = "tls %d"\ntarget = "%s"\n\n' "$i" "$(addr success_tls)" ;;
        1) printf '[[case]]\nname = "nla %d"\ntarget = "%s"\n[case.expect]\nprotocol = "hybrid_ex"\n\n' "$i" "$(addr success_hybrid_ex)" ;;
        2) printf '[[case]]\nname = "wrong %d"\ntarget = "%s"\n[case.expect]\nntstatus = "STATUS_LOGON_FAILURE"\n\n' "$i" "$(addr wrong_password)" ;;
        3) printf '[[case]]\nname = "expired %d"\ntarget = "%s"\n[case.expect]\nstage = "certificate"\nfindings = ["expired"]\n\n' "$i" "$(addr certificate_expired)" ;;
        4) printf '[[case]]\nname = "no nla %d"\ntarget = "%s"\nsecurity = "tls"\n[case.expect]\nneg_failure = 5\n\n' "$i" "$(addr negotiation_failure_hybrid_required_by_server)" ;;
        esac
        i=$((i + 1))
    done
} > "$dir/suite.toml"

MOCK_PASSWORD=rdpscope-mock-password /usr/bin/time -f 'wall %e s, peak RSS %M KiB' \
    "$bin" suite "$dir/suite.toml" --concurrency "$concurrency" | tail -1
