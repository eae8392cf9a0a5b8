#!/bin/sh
# Install aardwolf (PyPI), an asyncio RDP client, into the tests' venv for tests/aardwolf.rs:
# a third-party client whose CredSSP wraps NTLM in SPNEGO. asyauth (its CredSSP, SPNEGO and
# NTLM) and asysocks (its transport) are pinned too: the verdicts depend on them.
# Idempotent and quiet; run as root. The venv is /opt/rdpscope-venv (or $RDPSCOPE_VENV).
set -eu

sh "$(dirname "$0")/venv-install.sh" aardwolf==0.2.16 asyauth==0.0.23 asysocks==0.2.18
