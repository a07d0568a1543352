#!/usr/bin/env bash
# Installs and builds everything `npm start` (demo) or `npm test` (test) needs, on a fresh
# Debian machine or an already set-up one: each install step checks first and does only what
# is missing or stale; the bundles are rebuilt every time (a few seconds).
# Usage: scripts/setup.sh demo|test
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-demo}"
# One place for the pinned host version (also read by server/config.js).
OHIF_APP_VERSION="3.13.2"
step() { printf '\n\033[1m[setup] %s\033[0m\n' "$*"; }

# --- Debian packages: Chromium (browser tests), Orthanc + DICOMweb (a real PACS for tests),
# mricron-data (the Colin27 T1 MRI the demo data is made from), dicom3tools (dciodvfy).
apt_packages=(mricron-data)
# The venv module (Debian splits it out of python3); a Python that already has it needs nothing.
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_packages+=(python3 python3-venv)
[ "$purpose" = test ] && apt_packages+=(chromium orthanc orthanc-dicomweb dicom3tools)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    step "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts Orthanc as a service on install; our tests start their own instance.
    if command -v systemctl >/dev/null 2>&1; then systemctl stop orthanc 2>/dev/null || true; fi
  else
    echo "[setup] missing Debian packages: ${missing[*]} — run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# --- npm packages (exact versions from package-lock.json).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

# --- Python venv for models/ (torch is the local CPU wheel; see models/requirements.txt).
if [ ! -x .venv/bin/python ] || [ models/requirements.txt -nt .venv/.installed ] || [ models/pyproject.toml -nt .venv/.installed ] || [ models/requirements-nodeps.txt -nt .venv/.installed ]; then
  step "Python venv (.venv) for models/"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r models/requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r models/requirements-nodeps.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e models
  touch .venv/.installed
fi

# --- The prebuilt OHIF viewers (cannot be built from npm; see docs/deploy.md): the default
# host, then the other versions the e2e matrix runs on (server/config.js OHIF_APP_VERSIONS).
# Each is unpacked once into .cache/ and kept between runs.
for ohif_version in "$OHIF_APP_VERSION" 3.12.10 3.14.0-beta.6; do
  ohif_dir=".cache/ohif-app-$ohif_version"
  if [ ! -f "$ohif_dir/package/dist/index.html" ]; then
    step "fetch prebuilt OHIF viewer @ohif/app@$ohif_version"
    mkdir -p "$ohif_dir"
    tarball=$(cd "$ohif_dir" && npm pack "@ohif/app@$ohif_version" --silent)
    tar xzf "$ohif_dir/$tarball" -C "$ohif_dir" && rm "$ohif_dir/$tarball"
  fi
done

# --- Our bundles (extension + mode as ES modules the prebuilt viewer imports).
step "build extension and mode bundles"
npx webpack --mode production

# --- Demo data (deterministic from the seed; regenerated only when the generator changes).
demo_dir=data/generated/demo
if [ ! -f "$demo_dir/.complete" ] || [ -n "$(find models/clue/synth -newer "$demo_dir/.complete" -name '*.py' | head -1)" ]; then
  step "generate demo studies from Colin27 ($demo_dir)"
  .venv/bin/clue demo-data --out "$demo_dir" --seed 0
fi
