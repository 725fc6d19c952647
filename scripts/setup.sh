#!/usr/bin/env bash
# Set up everything anamorph needs on a fresh Debian-family machine, idempotently:
#   1. the OSDI-capable libngspice (ngspice/build.sh: apt build tools + distribution source, ~5 min once)
#   2. a virtual environment .venv with anamorph installed editable (+ test extras)
#   3. with --browser: Debian's chromium, for the test that opens the demo report
# A second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=0
for arg in "$@"; do
  case $arg in
    --browser) browser=1 ;;
    *) echo "usage: scripts/setup.sh [--browser]" >&2; exit 2 ;;
  esac
done

say() { echo "[setup] $*" >&2; }
sudo_cmd=()
[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)

python=${PYTHON:-python3}
"$python" - <<'PY' || { say "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
import sys; sys.exit(sys.version_info < (3, 11))
PY

# 1. libngspice with OSDI
bash ngspice/build.sh >/dev/null

# 2. Python environment
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$python" -m venv .venv || {
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv .venv
  }
fi
stamp=.venv/.anamorph-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing anamorph and its dependencies into .venv"
  log=.venv/pip-install.log
  { .venv/bin/python -m pip install --upgrade pip "setuptools>=77" wheel &&
    .venv/bin/python -m pip install -e ".[test]"; } >"$log" 2>&1 \
    || { tail -30 "$log" >&2; say "pip install failed (full log: $log)"; exit 1; }
  touch "$stamp"
fi

# 3. a real browser for the report test
if [ "$browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium (for the report test)"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
say "ready: $(.venv/bin/anamorph --version)"
