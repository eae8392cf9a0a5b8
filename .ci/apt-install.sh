#!/bin/sh
# Install Debian packages quietly for CI, without starting any service their postinst
# scripts would start (xrdp's would block the test instances with its pid file; x11-common
# starts an init script). Usage: apt-install.sh PACKAGE...
set -eu

export DEBIAN_FRONTEND=noninteractive
# Debian's container images ship a policy-rc.d that denies service starts; add one for the
# duration of the install if it is missing.
policy_added=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
fi
apt-get update -qq
# Recommends (xorgxrdp, Xorg, fuse, ...) are not needed by the tests.
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
if [ -n "$policy_added" ]; then
    rm -f /usr/sbin/policy-rc.d
fi
