"""Writing reference fixtures: safetensors files with a JSON description in `__metadata__`.

Storage policy (test/fixtures/README.md repeats it for the readers):
- float tensors a test feeds to the engine (`role="input"`) are F32, always;
- other float tensors are F32 too, unless a case asks for F16 (`dtype="f16"`): the parity bounds sit at the
  measured error (test/parity_bounds.json), which F16 references (2^-11 relative) would hide;
- `maskmem_features` of the video predictor are BF16, exactly what the official predictor stores;
- binary masks are bit-packed to U8: row-major over the mask, element i in byte i >> 3, bit i & 7 (LSB
  first), the last byte zero-padded;
- integer tensors keep I32 / U8.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Any, Dict, Optional

import numpy as np
import torch
from safetensors.torch import save_file

FORMAT = "sam2-webgpu-fixture/1"


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """Bit-packs a boolean tensor (row-major, LSB first) into a 1-D uint8 tensor."""
    flat = mask.detach().reshape(-1).cpu().numpy().astype(bool)
    return torch.from_numpy(np.packbits(flat, bitorder="little").copy())


class FixtureWriter:
    """Collects named tensors and their description, then writes one .safetensors file."""

    def __init__(self, path: str, meta: Optional[Dict[str, Any]] = None):
        self.path = path
        self.meta: Dict[str, Any] = meta if meta is not None else {}  # shared: callers may add to it later
        self.tensors: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        self.shapes: Dict[str, list] = {}  # logical shapes of packed masks

    def add(self, name: str, value: Any, role: str = "output", dtype: Optional[str] = None) -> None:
        """role: "input" (always F32) or "output"; dtype forces "f32" | "f16" | "bf16"."""
        if name in self.tensors:
            raise KeyError(f"duplicate fixture tensor {name}")
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        t = t.detach().cpu()
        if t.is_floating_point():
            if dtype is None:
                dtype = "f32"
            target = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
            if target == torch.float16:
                if float(t.float().abs().max()) >= 65504.0:
                    raise ValueError(f"{name} does not fit in f16")
            t = t.to(target)
            if target != torch.bfloat16 and not torch.isfinite(t.float()).all():
                raise ValueError(f"{name} has non-finite values")
        elif t.dtype == torch.bool:
            raise TypeError(f"{name}: use add_mask() for boolean masks")
        elif t.dtype in (torch.int64, torch.int16, torch.int8):
            t = t.to(torch.int32)
        self.tensors[name] = t.contiguous().clone()  # never share storage between entries

    def add_mask(self, name: str, mask: torch.Tensor) -> None:
        """Stores a boolean mask bit-packed; its logical shape goes to the metadata (`packed_shapes`)."""
        self.shapes[name] = list(mask.shape)
        self.add(name, pack_bits(mask))

    def save(self) -> int:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        meta = dict(self.meta)
        if self.shapes:
            meta["packed_shapes"] = self.shapes
        # A single metadata key: the safetensors writer emits __metadata__ entries in hash-map order, which
        # varies from run to run; with one entry the file is byte-for-byte reproducible.
        meta["format"] = FORMAT
        metadata = {"meta": json.dumps(meta, sort_keys=True, separators=(",", ":"))}
        tmp = self.path + ".tmp"
        save_file(dict(self.tensors), tmp, metadata=metadata)
        os.replace(tmp, self.path)
        size = os.path.getsize(self.path)
        print(f"  wrote {os.path.relpath(self.path)} ({len(self.tensors)} tensors, {size / 1e6:.2f} MB)")
        return size
