#!/bin/sh
# Install impacket (PyPI) into the tests' venv for tests/impacket.rs: its rdp_check.py is a
# third-party CredSSP client run against the mocks. Idempotent and quiet; run as root.
# The venv is /opt/rdpscope-venv (tests/impacket.rs looks there, or at $RDPSCOPE_VENV).
set -eu

sh "$(dirname "$0")/venv-install.sh" impacket==0.13.1
