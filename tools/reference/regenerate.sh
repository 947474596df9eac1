#!/usr/bin/env bash
# Regenerates, from scratch and deterministically, everything the official sam2 package produces for the
# tests: weights/checksums/*.json (synthetic-weight checksums, all 8 configs), the fixtures under
# test/fixtures/tiny256 and test/fixtures/configs256, and the reference data beside the tests
# (test/kernels/data/{rope_torch,resize_torch,pil_resize}.json, test/model/data/hiera_blocks.json and
# image_predictor_truck256.safetensors). tools/reference/README.md lists every file with its group.
#
#   bash tools/reference/regenerate.sh            # everything committed (about 5-10 minutes on 2 cores)
#   bash tools/reference/regenerate.sh --full     # plus the 1024-pixel tiny case in test/fixtures/full (not committed)
#   bash tools/reference/regenerate.sh --only video configs   # a subset (see harness.py --help)
#   bash tools/reference/regenerate.sh --only video --video-case session   # one video case
#   bash tools/reference/regenerate.sh --only rope resize pil_resize hiera image_predictor   # the data beside the tests
#   bash tools/reference/regenerate.sh --image-size 512       # the tiny / configs fixtures at 512 (not committed)
#
# Creates the Python environment first (setup.sh) when tools/reference/.venv is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="$here/.venv/bin/python"

if [ ! -x "$py" ]; then
  echo "reference env missing: running tools/reference/setup.sh"
  bash "$here/setup.sh"
fi
if [ ! -f "$repo/samples/bedroom/00000.jpg" ]; then
  echo "error: samples/bedroom (the official example frames) is missing from the repository" >&2
  exit 1
fi

# Without --only the harness starts from scratch: it deletes the folders it is about to write
# (test/fixtures/tiny256, configs256, and full/tiny1024 with --full) and rewrites weights/checksums and the
# data files beside the tests.
# One thread everywhere: CPU kernels may reduce in a thread-count-dependent order.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0 TQDM_DISABLE=1
cd "$repo"
"$py" "$here/harness.py" --out "$repo/test/fixtures" --threads 1 "$@"
# Two fixtures outside the harness's groups, on every full run at the committed size: the near-tie of the
# multimask choice (tiny256/near_tie.safetensors) and PIL's decode of the sample JPEGs (decode/pil_decode.json).
case " $* " in
  *" --only "* | *" --image-size "*) ;;
  *)
    "$py" "$here/near_tie.py"
    "$py" "$here/decode_fixture.py"
    ;;
esac
