#!/bin/sh
# Copies the pinned uPlot release's own dist files (no bundling, no code
# generation) from node_modules into assets/vendor, where go:embed picks
# them up. Run `npm ci && npm run vendor` in hub/ui after changing the
# version in package.json; commit the copied files with their LICENSE.
set -eu
cd "$(dirname "$0")"
src=node_modules/uplot
[ -d "$src" ] || { echo "vendor: $src missing; run npm ci first" >&2; exit 1; }
mkdir -p assets/vendor
cp "$src/dist/uPlot.iife.min.js" assets/vendor/uPlot.iife.min.js
cp "$src/dist/uPlot.min.css" assets/vendor/uPlot.min.css
cp "$src/LICENSE" assets/vendor/uPlot.LICENSE
echo "uplot $(node -p "require('./$src/package.json').version")" > assets/vendor/VERSIONS
echo "vendored uPlot into assets/vendor"
