#!/bin/sh
# Install what tests/firewall.rs needs on Debian 12: `ip` (iproute2) for the network
# namespaces and veth pairs, `nft` (nftables) for the firewall rules. The tests also need
# root. Idempotent and quiet; run as root. Skips the apt step when both are installed.
set -eu

missing=
for tool in ip nft; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done

if [ -n "$missing" ]; then
    sh "$(dirname "$0")/apt-install.sh" iproute2 nftables
fi
