"""Reference data that lives beside the tests rather than in test/fixtures: small JSON files of official
function outputs for kernel tests, the Hiera block structure of every official config, and the image
predictor's reference. `regenerate.sh` writes them with the rest (groups `rope`, `resize`, `pil_resize`,
`hiera`, `image_predictor` of `harness.py --only`); each is a pure function of the pinned environment, so a
rerun reproduces the committed bytes.

| file | group | what |
|---|---|---|
| test/kernels/data/rope_torch.json | rope | `compute_axial_cis` + `apply_rotary_enc` on seeded inputs |
| test/kernels/data/resize_torch.json | resize | `F.interpolate` (bilinear, antialiased bilinear, bicubic, nearest) |
| test/kernels/data/pil_resize.json | pil_resize | Pillow's bicubic resize, the official loader's normalisation table |
| test/model/data/hiera_blocks.json | hiera | per block of the official Hiera trunk of each config |
| test/model/data/image_predictor_truck256.safetensors | image_predictor | SAM2ImagePredictor on truck.jpg |
"""
from __future__ import annotations

import base64
import json
import os
from typing import Dict, List

import numpy as np
import torch

import harness
import synthetic

REPO = synthetic.REPO
KERNEL_DATA = os.path.join(REPO, "test", "kernels", "data")
MODEL_DATA = os.path.join(REPO, "test", "model", "data")


def _write_text(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    print(f"  wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path)} bytes)")
    return path


def _b64(t: torch.Tensor) -> str:
    """Little-endian f32 bytes, base64."""
    return base64.b64encode(t.detach().contiguous().float().numpy().astype("<f4").tobytes()).decode("ascii")


# ================================================================================================ rope
# (B, H, dim, end_x, end_y, key repeats, excluded key tokens): a small grid with repeated keys and excluded
# tokens, the memory-attention head dim 64 with three repeats, the full 256-channel single head, and a
# 64-position axis (a 1024 model's 64×64 map along x), where an error of the frequencies grows with the
# position into a visible angle error.
ROPE_CASES = [(1, 2, 16, 4, 3, 2, 4), (1, 1, 64, 3, 2, 3, 2), (1, 1, 256, 2, 2, 1, 0), (1, 1, 16, 64, 2, 1, 0)]


def rope_fixture(path: str = os.path.join(KERNEL_DATA, "rope_torch.json")) -> str:
    """q [B, H, end_x*end_y, dim] and k [B, H, repeats*end_x*end_y + exclude, dim], both torch.randn * 3 drawn
    in that order after torch.manual_seed(0); cis = compute_axial_cis(dim, end_x, end_y, 10000); then, as
    RoPEAttention.forward: q, k[:, :, :num_k_rope] = apply_rotary_enc(q, k[:, :, :num_k_rope], cis,
    repeat_freqs_k=repeats > 1), the excluded keys unchanged."""
    from sam2.modeling.position_encoding import apply_rotary_enc, compute_axial_cis

    torch.manual_seed(0)
    cases = []
    for b, h, dim, ex, ey, reps, excl in ROPE_CASES:
        n = ex * ey
        q = torch.randn(b, h, n, dim) * 3
        k = torch.randn(b, h, reps * n + excl, dim) * 3
        cis = compute_axial_cis(dim, ex, ey, 10000.0)
        num_k_rope = k.shape[-2] - excl
        q_out, k_rope = apply_rotary_enc(q, k[:, :, :num_k_rope], cis, repeat_freqs_k=reps > 1)
        k_out = k.clone()
        k_out[:, :, :num_k_rope] = k_rope
        cases.append({"B": b, "H": h, "dim": dim, "endX": ex, "endY": ey, "repeats": reps, "exclude": excl,
                      "q": _b64(q), "k": _b64(k), "qOut": _b64(q_out), "kOut": _b64(k_out)})
    data = {"source": f"sam2.modeling.position_encoding compute_axial_cis + apply_rotary_enc (torch {torch.__version__})",
            "cases": cases}
    return _write_text(path, json.dumps(data))


# ============================================================================================== resize
# (mode, size, scale_factor, align_corners, antialias) on x = arange(12) ** 1.5 as [1, 1, 3, 4]
RESIZE_CASES = [
    ("bilinear", [2, 5], None, False, False),
    ("bilinear", [2, 3], None, False, True),
    ("bicubic", [4, 3], None, False, False),
    ("nearest", None, 1.5, None, False),
]


def resize_fixture(path: str = os.path.join(KERNEL_DATA, "resize_torch.json")) -> str:
    """torch.nn.functional.interpolate on a small ramp, one case per resampling family the engine uses."""
    import torch.nn.functional as F

    x = (torch.arange(12, dtype=torch.float64) ** 1.5).to(torch.float32).reshape(1, 1, 3, 4)
    cases = []
    for mode, size, scale, align, antialias in RESIZE_CASES:
        kw = {"mode": mode, "antialias": antialias}
        if size is not None:
            kw["size"] = size
        else:
            kw["scale_factor"] = scale
        if align is not None:
            kw["align_corners"] = align
        y = F.interpolate(x, **kw)
        cases.append({"mode": mode, "size": size, "scale_factor": scale, "align_corners": align,
                      "antialias": antialias, "shape": list(y.shape), "out": [float(v) for v in y.flatten()]})
    data = {
        "source": f"torch.nn.functional.interpolate (torch {torch.__version__}, CPU)",
        "input": {"shape": [1, 1, 3, 4], "formula": "arange(12) ** 1.5 in f64, rounded to f32",
                  "data": [float(v) for v in x.flatten()]},
        "cases": cases,
    }
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in data.items() if k != "cases"] + [' "cases": [']
    lines += [f"  {json.dumps(c)}" + ("," if i < len(cases) - 1 else "") for i, c in enumerate(cases)]
    lines += [" ]", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == data
    return _write_text(path, text)


# ========================================================================================== pil_resize
def pil_resize_fixture(path: str = os.path.join(KERNEL_DATA, "pil_resize.json")) -> str:
    import make_pil_resize_fixture

    return make_pil_resize_fixture.write(path)


# =============================================================================================== hiera
def hiera_blocks_fixture(path: str = os.path.join(MODEL_DATA, "hiera_blocks.json")) -> str:
    """Per block of the official Hiera trunk of each of the 8 configs: dim, dim_out, heads, q_stride (q pooling),
    window size and global attention, read from the instantiated module (the trunk alone, as the config
    builds it; its weights do not matter)."""
    from hydra import compose
    from hydra.utils import instantiate
    from sam2.build_sam import build_sam2  # noqa: F401  (imports sam2, which initialises its hydra config module)

    configs: Dict[str, dict] = {}
    for name, config_file in harness.CONFIG_FILES.items():
        cfg = compose(config_name=config_file)
        trunk = instantiate(cfg.model.image_encoder.trunk)
        glob = set(trunk.global_att_blocks or ())
        blocks: List[dict] = []
        for i, blk in enumerate(trunk.blocks):
            blocks.append({
                "dim": int(blk.dim),
                "dim_out": int(blk.dim_out),
                "heads": int(blk.attn.num_heads),
                "q_stride": list(blk.q_stride) if blk.q_stride else None,
                "q_pool": blk.pool is not None,
                "window_size": int(blk.window_size),
                "global": i in glob,
            })
        configs[name] = {
            "config_file": config_file,
            "stage_ends": [int(x) for x in trunk.stage_ends],
            "q_pool_blocks": [int(x) for x in trunk.q_pool_blocks],
            "channel_list": [int(x) for x in trunk.channel_list],
            "neck_backbone_channel_list": [int(x) for x in cfg.model.image_encoder.neck.backbone_channel_list],
            "blocks": blocks,
        }
        del trunk
    from importlib.metadata import version

    data = {
        "source": "sam2.modeling.backbones.hieradet.Hiera as instantiated from each official config "
                  "(model.image_encoder.trunk); per block: MultiScaleBlock dim, dim_out, attn.num_heads, q_stride, "
                  "pool, window_size, and whether the index is in global_att_blocks",
        "sam2_version": version("sam2"),
        "configs": configs,
    }
    return _write_text(path, _dump_hiera(data))


def _dump_hiera(data: dict) -> str:
    """JSON with one line per config header and per block (readable diffs; still a pure function of the data)."""
    head = {k: v for k, v in data.items() if k != "configs"}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + [' "configs": {']
    names = list(data["configs"])
    for i, name in enumerate(names):
        c = dict(data["configs"][name])
        blocks = c.pop("blocks")
        lines.append(f"  {json.dumps(name)}: {json.dumps(c)[:-1]}, \"blocks\": [")
        lines += [f"   {json.dumps(b)}" + ("," if j < len(blocks) - 1 else "") for j, b in enumerate(blocks)]
        lines.append("  ]}" + ("," if i < len(names) - 1 else ""))
    lines += [" }", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == data
    return text


# ===================================================================================== image predictor
def image_predictor_fixture(path: str = os.path.join(MODEL_DATA, "image_predictor_truck256.safetensors")) -> str:
    import image_predictor_reference

    return image_predictor_reference.write(path)
