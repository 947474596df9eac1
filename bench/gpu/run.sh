#!/usr/bin/env bash
# Runs the device kit (bench/gpu/pack.sh builds it) from the repository root: unpacks it into a temporary
# root, prints the adapter, checks correctness, then measures, each phase under its own time cap, and writes
# the results under $OUT (the device machine's result folder; ./gpu-out when unset):
#
#   gpu-results.md     the tables: correctness, tracked frames, ours ÷ PyTorch, onnxruntime ÷ ours, kernels
#   gpu-results.json   every phase's results in one document
#   phases.tar.gz      each phase's own JSON (written after every case) and the ONNX export's log
#   run.log            everything the run printed
#
#   bash bench/gpu/run.sh            on the device machine: image size 1024, 16 + 30 frames (about 6 minutes)
#   bash bench/gpu/run.sh --local    here, on lavapipe: image size 256, 1 + 2 frames (a few minutes)
#   options: --kit DIR (bench/gpu/kit) --out DIR --size N --frames N --setup-frames N --keep-going
#            --phases info,checks,kernels,model,torch,peers (the default; also: large, sam2.1 large at the size)
#
# Phases: info (adapter, features, limits) → checks (the kernel test files and the module parity files of the
# repository, run by the bundled checks.mjs; a failure stops the run unless --keep-going) → kernels → model
# (our image encoder and tracked frames, f32 and f16) → torch (the official SAM2VideoPredictor on CUDA, eager
# f32 and bf16 autocast, from the carried sam2 wheel) → peers (our engine and onnxruntime-node's WebGPU EP on
# the same adapter, models exported from the synthetic weights on this machine while the earlier phases run).
set -uo pipefail

# The whole script is one function, read before it runs: editing this file during a run cannot change that run.
main() {
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO"

LOCAL=0
KIT=bench/gpu/kit
OUTDIR="${OUT:-$REPO/gpu-out}"
SIZE=""
FRAMES=""
SETUP=""
KEEP_GOING=0
PHASES=info,checks,kernels,model,torch,peers
KNOWN_PHASES=info,checks,kernels,model,large,torch,peers
value() { # option, its value (the next argument)
  [ $# -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || { echo "run.sh: $1 needs a value (see --help)" >&2; exit 2; }
}
while [ $# -gt 0 ]; do
  case "$1" in
    --local) LOCAL=1; shift ;;
    --kit) value "$@"; KIT="$2"; shift 2 ;;
    --out) value "$@"; OUTDIR="$2"; shift 2 ;;
    --size) value "$@"; SIZE="$2"; shift 2 ;;
    --frames) value "$@"; FRAMES="$2"; shift 2 ;;
    --setup-frames) value "$@"; SETUP="$2"; shift 2 ;;
    --phases) value "$@"; PHASES="$2"; shift 2 ;;
    --keep-going) KEEP_GOING=1; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for p in ${PHASES//,/ }; do
  [[ ",$KNOWN_PHASES," == *",$p,"* ]] || { echo "run.sh: unknown phase '$p' in --phases (${KNOWN_PHASES//,/, })" >&2; exit 2; }
done
for n in SIZE FRAMES SETUP; do
  v=${!n}
  [ -z "$v" ] || [[ "$v" =~ ^[0-9]+$ ]] || { echo "run.sh: --$(echo "$n" | tr A-Z a-z | sed 's/setup/setup-frames/') must be a whole number, not '$v'" >&2; exit 2; }
done
if [ "$LOCAL" = 1 ]; then
  SIZE=${SIZE:-256}; FRAMES=${FRAMES:-2}; SETUP=${SETUP:-1}; REPS=2; MIN_MS=200
  # Caps (seconds) per phase on a 2-core machine with a software adapter.
  CAP_INFO=60 CAP_CHECKS=300 CAP_KERNELS=60 CAP_MODEL=150 CAP_TORCH=150 CAP_PEERS=240 CAP_EXPORT=300 CAP_LARGE=300
else
  SIZE=${SIZE:-1024}; FRAMES=${FRAMES:-30}; SETUP=${SETUP:-16}; REPS=10; MIN_MS=150
  # About 6 minutes in all, so that a rerun fits the device time too.
  CAP_INFO=20 CAP_CHECKS=60 CAP_KERNELS=40 CAP_MODEL=80 CAP_TORCH=60 CAP_PEERS=80 CAP_EXPORT=240 CAP_LARGE=90
fi
KIT_ARG=$KIT
KIT="$(cd "$KIT" 2>/dev/null && pwd)" || { echo "run.sh: no kit folder at $KIT_ARG; build it with: bash bench/gpu/pack.sh" >&2; exit 1; }
for f in runtime.tar.xz app.tar.xz; do
  [ -f "$KIT/$f" ] || { echo "run.sh: $KIT/$f is missing; build the kit with: bash bench/gpu/pack.sh" >&2; exit 1; }
done
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
ROOT="$(mktemp -d "${TMPDIR:-/tmp}/sam2-webgpu-kit.XXXXXX")"
RES="$ROOT/results"
mkdir -p "$RES"
EXPORT_PID=""
PHASE_PID=""
FAILED=0
T0=$(date +%s)
say() { echo "[run.sh +$(($(date +%s) - T0))s] $*"; }
cleanup() {
  [ -n "$EXPORT_PID" ] && kill "$EXPORT_PID" 2>/dev/null
  rm -rf "$ROOT"
}
# Ctrl-C or TERM: stop the running phase (timeout runs it in its own process group, so the signal does not
# reach it by itself), keep what it wrote, write the results so far to $OUT, then remove the temporary root.
interrupted() {
  trap '' INT TERM
  say "interrupted: stopping the current phase and writing the results so far"
  if [ -n "$PHASE_PID" ]; then
    kill -TERM "$PHASE_PID" 2>/dev/null && wait "$PHASE_PID" 2>/dev/null
    record "$PHASE_NAME" "interrupted" $(($(date +%s) - PHASE_T))
  fi
  [ -n "$EXPORT_PID" ] && kill "$EXPORT_PID" 2>/dev/null
  [ -n "${NODE:-}" ] && [ -x "$NODE" ] && [ -d "$ROOT/app" ] && snapshot
  say "interrupted; results so far in $OUTDIR"
  exit 130
}
trap cleanup EXIT
trap interrupted INT TERM
# The log's tee ignores INT and TERM, so that the run's last lines still reach it after a Ctrl-C.
exec > >(trap '' INT TERM; exec tee "$OUTDIR/run.log") 2>&1

# ---------------------------------------------------------------- unpack
say "unpacking $KIT into $ROOT ($([ "$LOCAL" = 1 ] && echo local || echo device) run, image size $SIZE)"
head -4 "$KIT/MANIFEST.txt" 2>/dev/null
# tar needs the xz program for .tar.xz; where it is missing, Python's tarfile (lzma) unpacks the same.
untar() {
  if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"
  else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}
untar "$KIT/runtime.tar.xz" "$ROOT" || { echo "run.sh: cannot unpack runtime.tar.xz" >&2; exit 1; }
untar "$KIT/app.tar.xz" "$ROOT" || { echo "run.sh: cannot unpack app.tar.xz" >&2; exit 1; }
NODE="$ROOT/bin/node"
"$NODE" -v >/dev/null || { echo "run.sh: the carried Node does not run here" >&2; exit 1; }

# The Vulkan loader: unpacked beside the kit and found through LD_LIBRARY_PATH. On a device machine without a
# loader at all, also unpacked into / (that machine is discarded after the call), as its documentation does.
if ls "$KIT"/debs/*.deb >/dev/null 2>&1; then
  for d in "$KIT"/debs/*.deb; do dpkg-deb -x "$d" "$ROOT/sys"; done
  export LD_LIBRARY_PATH="$ROOT/sys/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ "$LOCAL" = 0 ] && [ "$(id -u)" = 0 ] && ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    for d in "$KIT"/debs/*.deb; do dpkg -x "$d" /; done
    ldconfig
  fi
fi
if [ "$LOCAL" = 1 ]; then
  DRIVER=lavapipe
else
  DRIVER=""
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d /usr/local/nvidia/icd.d; do
    f=$(ls "$d"/nvidia_icd*.json 2>/dev/null | head -1)
    if [ -n "$f" ]; then DRIVER="$f"; break; fi
  done
  if [ -n "$DRIVER" ]; then
    say "ICD $DRIVER: $(tr -d '\n ' <"$DRIVER" | head -c 300)"
    say "driver libraries: $(ldconfig -p 2>/dev/null | grep -oE '(libGLX_nvidia|libnvidia-glcore|libnvidia-gpucomp|libGLdispatch)\.so[.0-9]*' | sort -u | tr '\n' ' ')"
    export VK_DRIVER_FILES="$DRIVER"
    [ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] && export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  else
    say "no NVIDIA Vulkan ICD found; the Vulkan loader will pick what it finds"
  fi
fi
[ -n "$DRIVER" ] && export SAM2_WEBGPU_DRIVER="$DRIVER"
say "Vulkan driver: ${DRIVER:-system default}; libvulkan: $(ls "$ROOT"/sys/usr/lib/x86_64-linux-gnu/libvulkan.so.1 2>/dev/null || echo 'the system one')"

# Python: the machine's python3 (PyTorch, onnx, onnxruntime) with the carried wheels; here the reference venv.
PY=python3
[ "$LOCAL" = 1 ] && PY="$REPO/tools/reference/.venv/bin/python"
HAVE_PY=1
if ! "$PY" -c 'import torch' 2>/dev/null; then
  HAVE_PY=0
  say "no Python with PyTorch ($PY): the torch and peers phases are skipped$([ "$LOCAL" = 1 ] && echo '; bash tools/reference/setup.sh makes one')"
elif ls "$KIT"/wheels/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$ROOT/site" "$KIT"/wheels/*.whl ||
    { HAVE_PY=0; say "the carried wheels do not install: the torch and peers phases are skipped"; }
  export PYTHONPATH="$ROOT/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
[ "$HAVE_PY" = 1 ] && say "python: $("$PY" -c 'import sys, torch, sam2; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(), "sam2 from", sam2.__file__)' 2>&1 | tail -1)"

# ---------------------------------------------------------------- phases
echo '[]' >"$RES/phases.json"
record() { # phase status seconds
  "$NODE" -e 'const fs=require("fs");const [f,p,s,t]=process.argv.slice(1);const a=JSON.parse(fs.readFileSync(f,"utf8"));a.push({phase:p,status:s,seconds:Number(t)});fs.writeFileSync(f,JSON.stringify(a))' "$RES/phases.json" "$1" "$2" "$3"
}
wanted() { [[ ",$PHASES," == *",$1,"* ]]; }
# run_phase NAME CAP command...: runs it under the cap; its status goes to phases.json.
run_phase() {
  local name=$1 cap=$2 t rc status
  shift 2
  say "phase $name (cap ${cap}s)"
  t=$(date +%s)
  PHASE_NAME=$name PHASE_T=$t
  timeout --kill-after=10 "$cap" "$@" &
  PHASE_PID=$!
  wait "$PHASE_PID"
  rc=$?
  PHASE_PID=""
  case $rc in
    0) status=ok ;;
    124|137) status="stopped at its ${cap}s cap" ;;
    3) if [ "$name" = checks ]; then status="f16 parity above bounds; measured anyway"; else status="failed (exit 3)"; fi; FAILED=1 ;;
    *) status="failed (exit $rc)"; FAILED=1 ;;
  esac
  record "$name" "$status" $(($(date +%s) - t))
  say "phase $name: $status after $(($(date +%s) - t))s"
  snapshot
  return $rc
}
# The results so far, written to $OUT after every phase: a call cut off later still returns them.
snapshot() {
  "$NODE" "$ROOT/app/device.mjs" report --out "$RES" >/dev/null && cp "$RES/gpu-results.md" "$RES/gpu-results.json" "$OUTDIR/"
  [ -f "$ROOT/export.log" ] && cp "$ROOT/export.log" "$RES/"
  tar -C "$RES" -czf "$OUTDIR/phases.tar.gz" .
}
finish() {
  say "report"
  snapshot
  [ -f "$OUTDIR/gpu-results.md" ] && cat "$OUTDIR/gpu-results.md"
  if [ "$FAILED" = 1 ]; then say "done, with failed phases (above); results in $OUTDIR"; else say "done; results in $OUTDIR"; fi
}

wanted info && run_phase info "$CAP_INFO" "$NODE" "$ROOT/app/device.mjs" info --out "$RES"

if wanted checks; then
  run_phase checks "$CAP_CHECKS" "$NODE" "$ROOT/app/checks.mjs" --out "$RES/checks.json"
  rc=$?
  # 3: only f16 parity checks above their bounds (measured on CPU adapters' routes): reported, and timed anyway.
  if [ $rc = 3 ]; then
    say "f16 parity above the bounds measured on CPU adapters (see the report); f32 and the kernels passed: measuring"
  elif [ $rc != 0 ] && [ "$KEEP_GOING" = 0 ]; then
    say "correctness checks failed or did not finish: no timings (--keep-going measures anyway)"
    finish
    exit 1
  fi
fi

# The ONNX export runs on the CPU (8 threads) while our phases use the GPU.
if wanted peers && [ "$HAVE_PY" = 1 ]; then
  say "exporting the ONNX models at $SIZE in the background"
  (CUDA_VISIBLE_DEVICES="" OMP_NUM_THREADS=8 timeout "$CAP_EXPORT" "$PY" tools/reference/export_onnx.py --sizes "$SIZE" --out "$ROOT/models" >"$ROOT/export.log" 2>&1) &
  EXPORT_PID=$!
fi

wanted kernels && run_phase kernels "$CAP_KERNELS" "$NODE" "$ROOT/app/device.mjs" kernels --out "$RES" --cap-s $((CAP_KERNELS - 10)) --min-ms "$MIN_MS"
wanted model && run_phase model "$CAP_MODEL" "$NODE" "$ROOT/app/device.mjs" model --out "$RES" --size "$SIZE" --frames "$FRAMES" --setup-frames "$SETUP" --reps "$REPS" --cap-s $((CAP_MODEL - 15))

# sam2.1 large: not in the default phases (name it: --phases info,checks,large).
wanted large && run_phase large "$CAP_LARGE" "$NODE" "$ROOT/app/device.mjs" model --model large --out "$RES" --size "$SIZE" --frames "$FRAMES" --setup-frames "$SETUP" --reps "$REPS" --cap-s $((CAP_LARGE - 15))

wanted torch && [ "$HAVE_PY" = 0 ] && record torch "skipped: no Python with PyTorch and the carried wheels" 0
wanted peers && [ "$HAVE_PY" = 0 ] && record peers "skipped: no Python with PyTorch to export the ONNX models" 0
if wanted torch && [ "$HAVE_PY" = 1 ]; then
  if [ "$LOCAL" = 1 ]; then TORCH_ARGS=(--device cpu --precisions f32); else TORCH_ARGS=(--device cuda --precisions f32,bf16); fi
  run_phase torch "$CAP_TORCH" "$PY" bench/gpu/torch_bench.py "${TORCH_ARGS[@]}" --image-size "$SIZE" --frames "$FRAMES" --setup-frames "$SETUP" --objects 1,3 --out "$RES/torch.json" --time-cap $((CAP_TORCH - 10))
fi

if [ -n "$EXPORT_PID" ]; then
  say "waiting for the ONNX export"
  wait "$EXPORT_PID"
  rc=$?
  EXPORT_PID=""
  tail -3 "$ROOT/export.log"
  if [ $rc = 0 ] && [ -f "$ROOT/models/manifest.json" ]; then
    PEERS_DRIVER=${DRIVER:-lavapipe}
    # onnxruntime's WebGPU EP and ours alternate on the same adapter; its CPU EP is left out (it is not the comparison).
    SAM2_PEERS_MODELS="$ROOT/models" run_phase peers "$CAP_PEERS" "$NODE" "$ROOT/app/peers.mjs" --driver "$PEERS_DRIVER" --sizes "$SIZE" \
      --modules frame1,encoder,memory_attention,mask_decoder,memory_encoder --runtimes ours,ort-webgpu --warmup 1 --reps 3 --out "$RES/peers.json"
  else
    record peers "failed: the ONNX export failed (exit $rc; see export.log)" 0
    FAILED=1
    say "the ONNX export failed (exit $rc): no onnxruntime comparison"
  fi
fi

finish
[ "$FAILED" = 0 ]
}

main "$@"
