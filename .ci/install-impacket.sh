#!/bin/sh
# Install impacket (PyPI) into a venv for tests/impacket.rs: its rdp_check.py is a
# third-party CredSSP client run against the mocks. Idempotent and quiet; run as root.
# The venv is /opt/rdpscope-venv (tests/impacket.rs looks there, or at $RDPSCOPE_VENV).
set -eu

venv="${RDPSCOPE_VENV:-/opt/rdpscope-venv}"
if [ ! -x "$venv/bin/rdp_check.py" ]; then
    python3 -m venv "$venv" 2>/dev/null || {
        sh "$(dirname "$0")/apt-install.sh" python3-venv
        python3 -m venv "$venv"
    }
    "$venv/bin/pip" install --quiet --disable-pip-version-check impacket==0.13.1
fi
