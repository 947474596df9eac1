#!/usr/bin/env bash
# Usage: bash bench/gpu/wheels.sh OUTDIR [--no-check]
#
# Builds into OUTDIR the Python wheels that bench/gpu/torch_bench.py needs on a GPU machine that has
# CPython 3.12 (x86-64) with torch, numpy, pillow, PyYAML, packaging, tqdm, portalocker and typing_extensions,
# but not the official sam2 package and no network. That machine installs them with
#     python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" OUTDIR/*.whl
# and runs the bench with PYTHONPATH="$SITE".
#
# The set (pinned; one version of each, the versions of the reference environment tools/reference/.venv):
#   sam2 1.1.0                     built from its sdist with SAM2_BUILD_CUDA=0: pure Python, no CUDA extension
#                                  (the official hole filling then warns and skips, see torch_bench.py)
#   hydra-core 1.3.8               sam2's config system (sam2 requires hydra-core>=1.3.2)
#   omegaconf 2.3.1                hydra-core 1.3 requires omegaconf>=2.2,<2.4
#   antlr4-python3-runtime 4.9.3   hydra-core and omegaconf require 4.9.*; sdist only, built here
#   iopath 0.1.10                  imported by sam2's Hiera backbone; sdist only, built here
#   safetensors 0.8.0              imported by the reference harness (tools/reference/fixture_io.py) that the
#                                  bench reuses; the only binary wheel (cp310-abi3, manylinux2014 x86_64)
# Their remaining requirements (PyYAML, packaging, tqdm, portalocker, typing_extensions, numpy, pillow, torch)
# are on the GPU machine. sam2 also declares torchvision, which only its image predictor and automatic mask
# generator import, not the video predictor; it is not carried.
#
# sam2's sdist declares torch as a build requirement, so an isolated build (pip's default) would download the
# multi-GB torch wheel; this script never does that. Its setup.py needs torch only for the CUDA extension
# (with SAM2_BUILD_CUDA=0 and SAM2_BUILD_ALLOW_ERRORS=1 a missing torch is reported and ignored), so sam2 is
# built without build isolation: with the Python of tools/reference/.venv when it exists (created by
# `bash tools/reference/setup.sh`), otherwise in a throwaway virtual environment holding only setuptools
# (pinned below). If neither works the script stops and says to run tools/reference/setup.sh first. The other
# packages are fetched or built with `python3 -m pip` (their sdist builds fetch only setuptools). Needs the
# package index (network).
#
# Existing *.whl files in OUTDIR are replaced, only after every wheel was built. At the end the script checks,
# unless --no-check is given (a few seconds), that the set installs offline exactly as on the GPU machine
# (pip install --no-index --no-deps --no-compile --target TMP) with this machine's python3, and that from TMP
# sam2 imports and Hydra finds its config configs/sam2.1/sam2.1_hiera_t.yaml (with the reference venv's
# Python when it exists, since it has the remaining requirements; otherwise python3, skipping the imports
# whose requirements python3 lacks).
set -euo pipefail

SAM2_VERSION=1.1.0
PURE_PINS=(hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 iopath==0.1.10)
SAFETENSORS_PIN=safetensors==0.8.0
BUILD_SETUPTOOLS=84.2.1  # builds sam2 when tools/reference/.venv is missing
# wheel file-name prefixes of the complete set, for the final count
EXPECTED=(sam2-1.1.0- hydra_core-1.3.8- omegaconf-2.3.1- antlr4_python3_runtime-4.9.3- iopath-0.1.10- safetensors-0.8.0-)

die() { echo "wheels.sh: error: $*" >&2; exit 1; }

out=""
check=1
for a in "$@"; do
  case "$a" in
    --no-check) check=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $a (usage: bash bench/gpu/wheels.sh OUTDIR [--no-check])" ;;
    *) [ -z "$out" ] || die "one OUTDIR only"; out="$a" ;;
  esac
done
[ -n "$out" ] || die "usage: bash bench/gpu/wheels.sh OUTDIR [--no-check]"

start=$(date +%s.%N)
elapsed() { awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv_py="$repo/tools/reference/.venv/bin/python"
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || die "$PY not found"

stage="$(mktemp -d "${TMPDIR:-/tmp}/sam2-wheels-XXXXXX")"
check_dir=""
cleanup() { rm -rf "$stage" ${check_dir:+"$check_dir"}; }
trap cleanup EXIT

# Runs pip (arguments: a description, then the command); on failure shows the end of pip's output and says
# whether the package index looked unreachable.
run_pip() {
  local what="$1"; shift
  local log="$stage/pip.log"
  if ! "$@" >"$log" 2>&1; then
    echo "---- pip output (last 25 lines) ----" >&2
    tail -n 25 "$log" >&2
    echo "------------------------------------" >&2
    if grep -qiE "NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|Network is unreachable|ProxyError|SSLError|Connection refused|timed out|No matching distribution found|Could not find a version" "$log"; then
      die "$what: pip could not get it from the package index. Is the index reachable from this machine (network, proxy, PIP_INDEX_URL)?"
    fi
    die "$what: pip failed (output above)"
  fi
}

# --- sam2 from its sdist, without the CUDA extension ------------------------------------------------------
sam2_build() {  # $1: the Python that builds (needs setuptools >= 70.1, which has bdist_wheel); $2: description
  run_pip "${2:-sam2==$SAM2_VERSION}" env SAM2_BUILD_CUDA=0 SAM2_BUILD_ALLOW_ERRORS=1 "$1" -m pip wheel -q \
    --no-deps --no-build-isolation --no-cache-dir --no-binary sam2 -w "$stage" "sam2==$SAM2_VERSION"
}
if [ -x "$venv_py" ]; then
  echo "sam2 $SAM2_VERSION: building from the sdist with $venv_py (SAM2_BUILD_CUDA=0, no build isolation)" >&2
  sam2_build "$venv_py"
else
  echo "sam2 $SAM2_VERSION: tools/reference/.venv not found; building from the sdist in a temporary environment" \
    "with setuptools $BUILD_SETUPTOOLS only (SAM2_BUILD_CUDA=0, no build isolation, no torch)" >&2
  "$PY" -m venv "$stage/buildenv" >/dev/null 2>&1 \
    || die "could not create a virtual environment with $PY to build sam2 in. Run 'bash tools/reference/setup.sh' first
(it creates tools/reference/.venv), then rerun. (An isolated build of the sam2 sdist is not an option: it would
download the multi-GB torch wheel.)"
  run_pip "setuptools==$BUILD_SETUPTOOLS (sam2's build environment)" \
    "$stage/buildenv/bin/python" -m pip install -q "setuptools==$BUILD_SETUPTOOLS"
  sam2_build "$stage/buildenv/bin/python" \
    "sam2==$SAM2_VERSION (built with setuptools only; if this keeps failing, run 'bash tools/reference/setup.sh' first and rerun)"
  rm -rf "$stage/buildenv"
fi

# --- pure-Python requirements (wheels where PyPI has them, sdists built to wheels otherwise) ------------------
echo "requirements: ${PURE_PINS[*]}" >&2
run_pip "${PURE_PINS[*]}" "$PY" -m pip wheel -q --no-deps -w "$stage" "${PURE_PINS[@]}"

# --- safetensors: the binary wheel for CPython >= 3.10 on manylinux x86-64 ------------------------------------
echo "requirements: $SAFETENSORS_PIN (cp310-abi3 manylinux x86_64)" >&2
run_pip "$SAFETENSORS_PIN" "$PY" -m pip download -q --no-deps --only-binary :all: \
  --platform manylinux2014_x86_64 --python-version 3.12 --implementation cp -d "$stage" "$SAFETENSORS_PIN"

# --- the set: one wheel per package, pure Python except safetensors ------------------------------------------
rm -f "$stage/pip.log"
shopt -s nullglob
wheels=("$stage"/*.whl)
[ "${#wheels[@]}" -eq "${#EXPECTED[@]}" ] || die "expected ${#EXPECTED[@]} wheels, got ${#wheels[@]}: $(cd "$stage" && ls)"
for p in "${EXPECTED[@]}"; do
  m=("$stage"/"$p"*.whl)
  [ "${#m[@]}" -eq 1 ] || die "expected one wheel named $p*, got ${#m[@]} (in $(cd "$stage" && ls | tr '\n' ' '))"
  case "$(basename "${m[0]}")" in
    safetensors-*-cp3*-abi3-*manylinux*x86_64*.whl) ;;
    *-py3-none-any.whl|*-py2.py3-none-any.whl) ;;
    *) die "$(basename "${m[0]}") is not a pure-Python wheel (was the sam2 CUDA extension built?)" ;;
  esac
done

mkdir -p "$out"
rm -f "$out"/*.whl
mv "$stage"/*.whl "$out"/

total=0
echo "wheels in $out:"
for w in "$out"/*.whl; do
  size=$(stat -c %s "$w")
  total=$((total + size))
  printf '  %8s KiB  %s\n' "$(awk -v n="$size" 'BEGIN { printf "%.1f", n / 1024 }')" "$(basename "$w")"
done
printf '  total %d bytes (%s MiB) in %d wheels\n' "$total" "$(awk -v n="$total" 'BEGIN { printf "%.2f", n / 1048576 }')" "${#EXPECTED[@]}"

# --- offline install and import check -------------------------------------------------------------------------
if [ "$check" = 1 ]; then
  check_dir="$(mktemp -d "${TMPDIR:-/tmp}/sam2-wheels-check-XXXXXX")"
  PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$check_dir" "$out"/*.whl \
    || die "the wheels do not install offline with $PY (pip install --no-index --no-deps --target)"
  if [ -x "$venv_py" ]; then check_py="$venv_py"; else check_py="$PY"; fi
  PYTHONPATH="$check_dir" "$check_py" - "$check_dir" <<'EOF' || die "import check failed (output above)"
import importlib
import os
import sys

site = os.path.realpath(sys.argv[1])


def from_site(mod):
    path = os.path.realpath(mod.__file__)
    if not path.startswith(site + os.sep):
        raise SystemExit(f"{mod.__name__} was imported from {path}, not from the installed wheels")
    return os.path.relpath(path, site)


for name in ("antlr4", "omegaconf", "hydra", "sam2"):
    print(f"  import {name}: {from_site(importlib.import_module(name))}")
from hydra import compose  # noqa: E402

cfg = compose(config_name="configs/sam2.1/sam2.1_hiera_t.yaml")
print(f"  hydra config configs/sam2.1/sam2.1_hiera_t.yaml: model {cfg.model._target_}")
# These need packages of the GPU machine that the checking Python may lack (tqdm, portalocker, torch).
for name in ("iopath.common.file_io", "safetensors", "sam2.build_sam"):
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        print(f"  import {name}: not checked here ({e})")
    else:
        print(f"  import {name}: {from_site(mod)}")
EOF
  echo "check: installed offline into a temporary folder with $PY, imported with $check_py" >&2
fi
echo "wheels.sh: done in $(elapsed) s" >&2
