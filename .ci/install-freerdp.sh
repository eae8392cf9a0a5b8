#!/bin/sh
# Install the real FreeRDP client and a headless X server for tests/xfreerdp.rs on Debian 12:
# xfreerdp 2.11 (freerdp2-x11) needs an X display even with /auth-only; the tests start
# their own Xvfb (xvfb also provides xvfb-run, which needs xauth).
# Idempotent and quiet; run as root. Skips the apt step when everything is installed.
set -eu

missing=
for tool in xfreerdp Xvfb xauth; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done

if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Nothing here is a daemon, but x11-common (pulled in by xvfb) starts its init script
    # from its postinst; deny service starts for the install, as .ci/install-xrdp.sh does.
    policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends freerdp2-x11 xvfb xauth >/dev/null
    if [ -n "$policy_added" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi
