#!/usr/bin/env bash
# Every test: TypeScript type check + unit tests, Python tests of models/, browser e2e.
# Runs all suites even when one fails, then exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
run() { local name="$1"; shift; printf '\n\033[1m[test] %s\033[0m\n' "$name"; "$@" || failed+=("$name"); }

run "typecheck (tsc --noEmit)" npx tsc -p tsconfig.json --noEmit
run "TypeScript/JavaScript lint (eslint + prettier --check)" npm run --silent lint
run "TypeScript unit tests (vitest)" npx vitest run
run "Python lint (ruff)" bash -c ".venv/bin/ruff check models && .venv/bin/ruff format --check models"
run "Python tests (pytest models/tests)" .venv/bin/python -m pytest -q models/tests
run "engine in Chromium vs Python (real browser, real ONNX)" node tests/unit/engine/browser/check-engine-in-chromium.mjs
run "browser end-to-end tests (Chromium)" node tests/e2e/run.js

if [ ${#failed[@]} -gt 0 ]; then
  printf '\n[test] FAILED: %s\n' "${failed[*]}" >&2
  exit 1
fi
printf '\n[test] all suites passed\n'
