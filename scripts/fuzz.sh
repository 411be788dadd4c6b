#!/usr/bin/env bash
# The long fuzz run: every property-based fuzz test (issue 15) in release, with
# CASES cases each (default one million), and the time each took. The same properties run
# with proptest's default 256 cases in `./scripts/test`.
#
#   ./scripts/fuzz.sh            # 1,000,000 cases per property
#   CASES=50000 ./scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${CASES:-1000000}"
run() {
    local started=$SECONDS
    echo "== $* ($PROPTEST_CASES cases per property)"
    cargo test --release --locked "$@" 2>&1 | grep -E "^test |test result" || return 1
    echo "   $((SECONDS - started)) s"
}
run -p warroom-engine --test fuzz
run -p warroom-engine --lib any_configuration_text
run -p warroom-gateway --lib -- arbitrary_bytes_never_panic any_token_text
run -p warroom-actors --lib any_header_is_checked
