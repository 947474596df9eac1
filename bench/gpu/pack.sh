#!/usr/bin/env bash
# Builds the device kit: everything bench/gpu/run.sh needs on a machine that has a GPU and Python with
# PyTorch but no Node and no network, in one git-ignored folder (bench/gpu/kit), and prints what will travel.
#
#   bash bench/gpu/pack.sh [--out DIR] [--fast]
#
#   runtime.tar.xz   a stripped Node binary (this machine's, x86-64 Linux), npm `webgpu` with only its Linux
#                    x64 dawn.node, onnxruntime-node with only its Linux x64 binaries, onnxruntime-common
#   app.tar.xz       the engine and the benches bundled by esbuild (bench/gpu/build.mjs: checks.mjs,
#                    device.mjs, peers.mjs), the kernel tests' data and a parity subset of the fixtures
#                    (prompt encoder, mask decoder, memory encoder, memory attention at 256)
#   debs/            the Vulkan loader and GL dispatch packages (Debian bookworm, amd64)
#   wheels/          sam2 1.1.0 (built without its CUDA extension) and its pure-Python dependencies
#   MANIFEST.txt     versions, the commit, and the size of each part
#
# The Python scripts (tools/reference/*.py, bench/gpu/torch_bench.py) travel with the tree.
#
# Budget: the kit plus the tree that travels with it (tracked files without test/fixtures and
# test/model/data, which bench/gpu/tree.sh hides during a device call) must stay under 56 MiB of the 64 MiB a
# call can send. --fast compresses with xz -6 instead of -9e (about a minute instead of five on 2 cores; the
# sizes are then upper bounds of the real kit's: 38.0 against 37.2 MiB for the runtime when this was written)
# and reuses the wheels and packages of an earlier pack when present, else fetches them; the CI test runs it
# that way.
set -euo pipefail

# The whole script is one function, read before it runs: editing this file during a run cannot change that run.
main() {
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"

BUDGET_MIB=56
KIT=bench/gpu/kit
FAST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] && [ -n "$2" ] || { echo "pack.sh: --out needs a folder" >&2; exit 2; }; KIT="$2"; shift 2 ;;
    --fast) FAST=1; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pack.sh: unknown argument $1 (--out DIR, --fast)" >&2; exit 2 ;;
  esac
done

if [ "$(uname -m)" != x86_64 ] || [ "$(uname -s)" != Linux ]; then
  echo "pack.sh: the device machine is x86-64 Linux and the kit carries this machine's Node; pack on x86-64 Linux" >&2
  exit 1
fi
for tool in xz strip tar apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "pack.sh: needs $tool" >&2; exit 1; }
done
[ -d node_modules/webgpu ] || { echo "pack.sh: run npm ci first (node_modules/webgpu is missing)" >&2; exit 1; }
node bench/peers/install.mjs >/dev/null

XZ=(xz -9e -T0)
[ "$FAST" = 1 ] && XZ=(xz -6 -T0)

mkdir -p "$KIT"
KIT="$(cd "$KIT" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- runtime: Node, dawn.node, onnxruntime-node
echo "pack.sh: runtime (Node $(node -v), webgpu, onnxruntime-node)"
rt="$work/runtime"
mkdir -p "$rt/bin" "$rt/node_modules"
cp "$(command -v node)" "$rt/bin/node"
strip "$rt/bin/node"
wg="$rt/node_modules/webgpu"
mkdir -p "$wg/dist/linux-x64"
cp node_modules/webgpu/{index.js,package.json,LICENSE.md} "$wg/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$wg/dist/linux-x64/"
ort=bench/peers/node_modules/onnxruntime-node
mkdir -p "$rt/node_modules/onnxruntime-node/bin/napi-v6/linux"
cp -r "$ort/dist" "$ort/package.json" "$rt/node_modules/onnxruntime-node/"
cp -r "$ort/bin/napi-v6/linux/x64" "$rt/node_modules/onnxruntime-node/bin/napi-v6/linux/"
cp -r bench/peers/node_modules/onnxruntime-common "$rt/node_modules/"
tar -C "$rt" -cf - . | "${XZ[@]}" >"$KIT/runtime.tar.xz.tmp"
mv "$KIT/runtime.tar.xz.tmp" "$KIT/runtime.tar.xz"

# ---------------------------------------------------------------- app: the bundles, test data, parity fixtures
echo "pack.sh: app (esbuild bundles, kernel test data, parity fixtures)"
app="$work/app"
node bench/gpu/build.mjs "$app" >/dev/null
cp -r test/kernels/data "$app/data"
mkdir -p "$app/tiny256"
for m in prompt_encoder mask_decoder memory_encoder memory_attention; do
  cp "test/fixtures/tiny256/$m.safetensors" "$app/tiny256/"
done
tar -C "$work" -cf - app | "${XZ[@]}" >"$KIT/app.tar.xz.tmp"
mv "$KIT/app.tar.xz.tmp" "$KIT/app.tar.xz"

# ---------------------------------------------------------------- Vulkan loader packages
DEBS=(libvulkan1 libglvnd0 libegl1 libopengl0 libgl1 libglx0 libgles2)
if [ "$FAST" = 1 ] && [ -n "$(ls "$KIT"/debs/*.deb 2>/dev/null)" ]; then
  echo "pack.sh: debs (kept from the last pack)"
else
  echo "pack.sh: debs (${DEBS[*]}; amd64)"
  rm -rf "$KIT/debs.tmp"
  mkdir -p "$KIT/debs.tmp" "$work/apt/lists/partial"
  apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$work/apt/lists" -oAPT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" -qq update >/dev/null
  (cd "$KIT/debs.tmp" && apt-get "${apt_opts[@]}" -qq download "${DEBS[@]}")
  rm -rf "$KIT/debs"
  mv "$KIT/debs.tmp" "$KIT/debs"
fi

# ---------------------------------------------------------------- Python wheels
if [ "$FAST" = 1 ] && [ -n "$(ls "$KIT"/wheels/*.whl 2>/dev/null)" ]; then
  echo "pack.sh: wheels (kept from the last pack)"
else
  echo "pack.sh: wheels (bench/gpu/wheels.sh)"
  bash bench/gpu/wheels.sh "$KIT/wheels.tmp"
  rm -rf "$KIT/wheels"
  mv "$KIT/wheels.tmp" "$KIT/wheels"
fi

# ---------------------------------------------------------------- sizes
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
bytes_of() { du -sb "$1" | cut -f1; }
tree=$(bash bench/gpu/tree.sh size)
{
  echo "sam2-webgpu device kit"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':(exclude)test/fixtures' ':(exclude)test/model/data' || echo ' (with uncommitted changes)')"
  echo "packed: $(date -u +%Y-%m-%dT%H:%M:%SZ)$([ "$FAST" = 1 ] && echo ' (--fast: xz -6, sizes are upper bounds)')"
  echo "node: $(node -v); webgpu: $(node -p "require('./node_modules/webgpu/package.json').version"); onnxruntime-node: $(node -p "require('./$ort/package.json').version")"
  echo "debs: $(cd "$KIT/debs" && ls *.deb | tr '\n' ' ')"
  echo "wheels: $(cd "$KIT/wheels" && ls *.whl | tr '\n' ' ')"
} >"$KIT/MANIFEST.txt"
total=$tree
printf '\n%-44s %10s\n' "travels (with bench/gpu/tree.sh hide)" "MiB"
for part in runtime.tar.xz app.tar.xz debs wheels MANIFEST.txt; do
  b=$(bytes_of "$KIT/$part")
  total=$((total + b))
  printf '%-44s %10s\n' "${KIT#$PWD/}/$part" "$(mib "$b")"
done
printf '%-44s %10s\n' "the tree (tracked + untracked, not ignored)" "$(mib "$tree")"
printf '%-44s %10s   (budget %s MiB of the 64 MiB a call sends)\n' "total" "$(mib "$total")" "$BUDGET_MIB"
echo "sizes: runtime=$(bytes_of "$KIT/runtime.tar.xz") app=$(bytes_of "$KIT/app.tar.xz") debs=$(bytes_of "$KIT/debs") wheels=$(bytes_of "$KIT/wheels") tree=$tree total=$total budget=$((BUDGET_MIB * 1048576))" >>"$KIT/MANIFEST.txt"
if [ "$total" -gt $((BUDGET_MIB * 1048576)) ]; then
  echo "pack.sh: over budget: $(mib "$total") MiB > $BUDGET_MIB MiB" >&2
  exit 1
fi
echo "pack.sh: kit ready in ${KIT#$PWD/}; next: bash bench/gpu/tree.sh hide, then the device call in bench/gpu/README.md"
}

main "$@"
