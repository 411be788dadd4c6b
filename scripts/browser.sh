#!/usr/bin/env bash
# Makes sure Debian's Chromium and its chromedriver are installed for the browser tests
# (tests/browser.rs). Installs them from Debian's packages when missing; never downloads a
# browser from anywhere else. A failure is reported here and makes the browser tests fail.
set -uo pipefail

log() { echo "browser: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi
}

# The emoji font: mock mentions carry emoji, and the screenshots should show them as a
# person's browser does rather than as empty boxes.
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -d /usr/share/fonts/truetype/noto ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  log "cannot install chromium and chromium-driver (no apt-get)"
  exit 1
fi
log "installing chromium, chromium-driver and fonts-noto-color-emoji (Debian packages)"
as_root apt-get update -qq >/dev/null 2>&1 || true
if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null; then
  log "installed: $(/usr/bin/chromium --version 2>/dev/null)"
  exit 0
fi
log "installing chromium failed"
exit 1
