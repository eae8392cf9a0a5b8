#!/bin/sh
# Install xrdp for the integration tests (tests/support/xrdp.rs) on Debian 12.
# Idempotent and quiet; run as root. Skips the apt step when xrdp is already installed.
set -eu

if [ ! -x /usr/sbin/xrdp ]; then
    # The postinst would start the system xrdp + sesman daemons, and the daemon's
    # /var/run/xrdp/xrdp.pid makes every test instance refuse to start ("xrdp is already
    # running"), even with --nodaemon: apt-install.sh prevents service starts.
    sh "$(dirname "$0")/apt-install.sh" xrdp
fi

# xrdp refuses to start without /etc/xrdp/rsakeys.ini (Standard RDP Security keys,
# normally created by the postinst), whatever security_layer says.
if [ ! -e /etc/xrdp/rsakeys.ini ]; then
    (umask 077 && xrdp-keygen xrdp auto >/dev/null)
fi

# A stale pid file (or a running system daemon) blocks the test instances.
if [ -e /var/run/xrdp/xrdp.pid ]; then
    pid=$(cat /var/run/xrdp/xrdp.pid 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "install-xrdp: stopping the system xrdp daemon (pid $pid); it blocks test instances" >&2
        /usr/sbin/xrdp --kill >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    fi
    rm -f /var/run/xrdp/xrdp.pid
fi
