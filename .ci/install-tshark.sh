#!/bin/sh
# Install tshark (Wireshark's command line) for tests/capture.rs on Debian 12, answering the
# "non-root capture" question non-interactively (no: the tests only read files). Idempotent
# and quiet; run as root. Skips the apt step when tshark is installed.
set -eu

if ! command -v tshark >/dev/null 2>&1; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    sh "$(dirname "$0")/apt-install.sh" tshark
fi
