#!/bin/sh
# Install pinned PyPI packages into the tests' venv, /opt/rdpscope-venv (or $RDPSCOPE_VENV),
# making the venv first (with Debian's python3-venv when python3 lacks it). Packages already
# there at the pinned version are skipped. Idempotent and quiet; run as root.
# Usage: venv-install.sh NAME==VERSION...
set -eu

venv="${RDPSCOPE_VENV:-/opt/rdpscope-venv}"
if [ ! -x "$venv/bin/pip" ]; then
    python3 -m venv "$venv" 2>/dev/null || {
        sh "$(dirname "$0")/apt-install.sh" python3-venv
        python3 -m venv "$venv"
    }
fi

missing=
for pin in "$@"; do
    installed=$("$venv/bin/pip" show "${pin%%==*}" 2>/dev/null | sed -n 's/^Version: //p')
    [ "$installed" = "${pin#*==}" ] || missing="$missing $pin"
done
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086 # one argument per pin
    "$venv/bin/pip" install --quiet --disable-pip-version-check $missing
fi
