#!/usr/bin/env bash
# Creates the project-local Python environment that runs Meta's official sam2 package on the CPU.
# The official code is a dependency here, never part of the project.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
# The CUDA extension of sam2 is not built (no GPU on the reference machines).
SAM2_BUILD_CUDA=0 SAM2_BUILD_ALLOW_ERRORS=1 "$venv/bin/pip" install -q -r "$here/requirements.txt"
# ONNX export of the official modules for the peer benchmark (tools/reference/export_onnx.py, bench/peers).
"$venv/bin/pip" install -q onnx==1.23.2 onnxscript==0.7.2 onnxruntime==1.32.0
"$venv/bin/python" -c "import torch, sam2, safetensors; print('reference env: torch', torch.__version__, 'sam2 ok')"
