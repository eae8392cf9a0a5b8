#!/bin/sh
# Install rdesktop (Debian 12's 1.9.0) for tests/rdesktop.rs, which runs it on its own Xvfb
# (installed by install-freerdp.sh). Idempotent and quiet; run as root. Skips the apt step
# when rdesktop is installed.
set -eu

if ! command -v rdesktop >/dev/null 2>&1; then
    sh "$(dirname "$0")/apt-install.sh" rdesktop
fi
