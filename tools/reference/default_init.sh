#!/usr/bin/env bash
# The default-initialisation case (tools/reference/default_init.py): writes the checkpoint
# weights/checkpoints/default_init_seed1.pt when missing (or $SAM2_WEBGPU_DEFAULT_INIT_CKPT; an existing one is
# checked byte for byte against the seed), writes test/fixtures/default_init/video.filled.safetensors from the
# official predictor, then runs test/video/default_init.test.ts (convert, replay in f32 / f16, the CLI).
#
#   bash tools/reference/default_init.sh              # all three
#   bash tools/reference/default_init.sh --no-test    # checkpoint and fixture only
#   bash tools/reference/default_init.sh --rewrite    # replace a checkpoint that differs (another torch)
#
# Creates the Python environment first (setup.sh) when tools/reference/.venv is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="$here/.venv/bin/python"

run_test=1
args=()
for a in "$@"; do
  case "$a" in
    --no-test) run_test=0 ;;
    *) args+=("$a") ;;
  esac
done

if [ ! -x "$py" ]; then
  echo "reference env missing: running tools/reference/setup.sh"
  bash "$here/setup.sh"
fi
# One thread everywhere, as regenerate.sh: CPU kernels may reduce in a thread-count-dependent order.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0 TQDM_DISABLE=1
cd "$repo"
"$py" "$here/default_init.py" ${args[@]+"${args[@]}"}
if [ "$run_test" = 1 ]; then
  npx vitest run test/video/default_init.test.ts
fi
