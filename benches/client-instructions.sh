#!/bin/sh
# The client's instructions per connection (valgrind's callgrind), the server excluded: it
# runs on a thread callgrind never collects. benches/client_cost.rs makes N connections of
# each kind one at a time, each inside its own function; callgrind collects only inside
# those (--toggle-collect), so the figure is the client's whole cost of one connection
# (tokio's runtime, the TLS handshake, rdpscope's stages, the report) and nothing else.
# Instruction counts do not depend on what else the machine is doing.
#
#   sh benches/client-instructions.sh [N]       (default N=100; valgrind must be installed)
#
# Prints the per-connection counts, the ratios to the raw TLS client, and the top inclusive
# costs inside the TLS probe's connections (callgrind_annotate).
set -eu

n="${1:-100}"
bin=$(cargo bench --bench client_cost --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*client_cost[^"]*\)".*/\1/p' | tail -1)
out="${TMPDIR:-/tmp}/rdpscope-client-cost.callgrind"

count() {
    valgrind --tool=callgrind --callgrind-out-file="$out.$1" \
        --toggle-collect='client_cost::measured_connection' "$bin" "$1" "$n" >/dev/null 2>&1
    callgrind_annotate --inclusive=yes --threshold=100 "$out.$1" |
        grep 'client_cost::measured_connection ' | head -1 | awk '{gsub(",", "", $1); print $1}'
}
raw=$(count raw)
tls=$(count tls)
hybrid=$(count hybrid_ex)
awk -v n="$n" -v raw="$raw" -v tls="$tls" -v hybrid="$hybrid" 'BEGIN {
    printf "instructions per connection (client only, N=%d):\n", n
    printf "  raw tokio-rustls TCP+TLS handshake  %12.0f\n", raw / n
    printf "  probe to connected over TLS         %12.0f  (%.2fx the raw TLS client)\n", tls / n, tls / raw
    printf "  probe to connected over HYBRID_EX   %12.0f  (%.2fx)\n", hybrid / n, hybrid / raw
}'
echo "callgrind output: $out.{raw,tls,hybrid_ex} (callgrind_annotate --inclusive=yes FILE)"
