#!/usr/bin/env bash
# The tools outside Python that the tests use as oracles, installed where they are missing:
# Graphviz (`cnnspec diagram --format svg`), a headless Chromium (the diagram's HTML page),
# Node.js with VS Code's TextMate engine and LSP client (editors/vscode/package-lock.json) and
# mermaid.js (renders `--format mermaid`), pinned. Idempotent; the README's test command runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM=()
command -v dot >/dev/null || SYSTEM+=(graphviz)
command -v chromium >/dev/null || SYSTEM+=(chromium)
command -v npm >/dev/null || SYSTEM+=(nodejs npm)
if [ ${#SYSTEM[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${SYSTEM[@]}" >/dev/null
fi
npm ci --prefix editors/vscode --no-audit --no-fund --loglevel=error
if [ ! -f .test-tools/node_modules/mermaid/dist/mermaid.min.js ]; then
    npm install --prefix .test-tools --no-audit --no-fund --loglevel=error mermaid@11.17.2 >/dev/null
fi
