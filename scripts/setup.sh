#!/usr/bin/env bash
# Sets up DiscoverVoice on Debian 12 with Python 3.11: system packages (apt, as root),
# then the pinned Python packages, then the package itself (editable).
#   scripts/setup.sh            # everything the app and the tests need
# Set DV_SKIP_APT=1 to skip the apt step (packages already there, or not root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${DV_SKIP_APT:-0}" != "1" ]; then
  if [ "$(id -u)" = "0" ]; then bash scripts/install-system-deps.sh --browser
  else sudo bash scripts/install-system-deps.sh --browser; fi
fi
PY=${PYTHON:-python3}
$PY -m pip install -q --upgrade-strategy only-if-needed -r requirements.txt
$PY -m pip install -q --no-deps -r requirements-nodeps.txt
$PY -m pip install -q --no-deps --no-build-isolation -e .
$PY -c "import discovervoice, torch; print('discovervoice ready, torch', torch.__version__)"
