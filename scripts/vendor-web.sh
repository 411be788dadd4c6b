#!/usr/bin/env bash
# Re-vendors the web app's (and the API viewer's) third-party files from the npm registry at pinned versions
# (gateway/web/vendor/<package>-<version>/, each with its licence). Run by hand when a
# version changes; the result is committed, so neither the build nor the tests need npm.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=gateway/web/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# package@version, then the files to keep from the package (besides LICENSE).
vendor() {
  local spec=$1; shift
  local name=${spec%@*} version=${spec##*@}
  (cd "$work" && npm pack --silent "$spec" >/dev/null && mkdir -p "$name" && tar xzf "$name"-*.tgz -C "$name")
  local out="$dest/$name-$version"
  rm -rf "$out" && mkdir -p "$out"
  cp "$work/$name/package/LICENSE" "$out/LICENSE"
  for file in "$@"; do cp "$work/$name/package/$file" "$out/"; done
  echo "vendored $spec into $out"
}
vendor uplot@1.6.32 dist/uPlot.iife.min.js dist/uPlot.min.css
vendor d3-array@3.2.5 dist/d3-array.min.js
vendor d3-geo@3.1.2 dist/d3-geo.min.js
vendor topojson-client@3.1.0 dist/topojson-client.min.js
vendor world-atlas@2.0.2 countries-110m.json
# The API viewer at /api/v1/docs (Apache-2.0: LICENSE and NOTICE kept, and the licences of
# what the bundle contains).
vendor swagger-ui-dist@5.35.0 swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css NOTICE
