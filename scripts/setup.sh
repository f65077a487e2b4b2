#!/usr/bin/env bash
# Set up everything graphferry needs on Debian 12, idempotently:
# the C++ build dependencies (apt), a virtualenv in .venv, torch first, then
# the package itself (editable) with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
APT_PACKAGES=(libzmq3-dev cppzmq-dev libmsgpack-cxx-dev cmake pkg-config g++ make python3-venv)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.graphferry-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # torch first, pinned: anything that depends on torch must find it installed
  # rather than pull a different build.
  "$VENV/bin/pip" install -q --disable-pip-version-check "$TORCH_SPEC"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
echo "setup: ready ($VENV)"
