#!/bin/sh
# Install the real FreeRDP client and a headless X server for tests/xfreerdp.rs on Debian 12:
# xfreerdp 2.11 (freerdp2-x11) needs an X display even with /auth-only; the tests start
# their own Xvfb (xvfb also provides xvfb-run, which needs xauth). tests/freerdp_shadow.rs
# runs FreeRDP's shadow server (freerdp2-shadow-x11) with an NTLM SAM file from winpr-hash
# (winpr-utils).
# Idempotent and quiet; run as root. Skips the apt step when everything is installed.
set -eu

missing=
for tool in xfreerdp Xvfb xauth freerdp-shadow-cli winpr-hash; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done

if [ -n "$missing" ]; then
    sh "$(dirname "$0")/apt-install.sh" freerdp2-x11 freerdp2-shadow-x11 winpr-utils xvfb xauth
fi
