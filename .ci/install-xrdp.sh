#!/bin/sh
# Install xrdp for the integration tests (tests/support/xrdp.rs) on Debian 12.
# Idempotent and quiet; run as root. Skips the apt step when xrdp is already installed.
set -eu

if [ ! -x /usr/sbin/xrdp ]; then
    export DEBIAN_FRONTEND=noninteractive
    # The postinst runs `invoke-rc.d xrdp start || exit 1`. Without systemd that would
    # start the system xrdp + sesman daemons, and the daemon's /var/run/xrdp/xrdp.pid
    # makes every test instance refuse to start ("xrdp is already running"), even with
    # --nodaemon. Debian's container images already ship a policy-rc.d that denies
    # service starts; add one for the duration of the install if it is missing.
    policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -qq
    # Recommends (xorgxrdp, Xorg, fuse) are only needed for real sessions, not for the
    # connection sequence up to xrdp's own login screen.
    apt-get install -y -qq --no-install-recommends xrdp >/dev/null
    if [ -n "$policy_added" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
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
