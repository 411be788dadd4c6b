#!/usr/bin/env bash
# Installs Schemathesis (pinned) into its own virtual environment under the user's cache
# and prints the path of its `st` command. tests/schemathesis.rs runs it against the
# server's own OpenAPI document. Safe to run repeatedly: an existing install is reused.
set -euo pipefail

# tests/schemathesis.rs looks for the same path when WARROOM_SCHEMATHESIS is unset.
version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/warroom/schemathesis-$version"
st="$venv/bin/st"

log() { echo "schemathesis: $*" >&2; }

if [ -x "$st" ] && "$st" --version 2>/dev/null | grep -q "$version"; then
  echo "$st"
  exit 0
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi
}

log "installing schemathesis $version into $venv"
rm -rf "$venv"
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  # Debian's python3 needs python3-venv for ensurepip.
  log "installing python3-venv"
  as_root apt-get update -qq >/dev/null 2>&1 || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
"$st" --version >&2
echo "$st"
