// Package browsertest drives the hub's web UI in headless Chromium: its
// tests start a whole hub in-process on free ports, seed it with a small
// plant, and run ui.mjs (playwright-core) against it. Chromium comes from
// Debian's package and playwright-core from hub/ui/package-lock.json; both
// are installed by scripts/install-browser.sh.
package browsertest
