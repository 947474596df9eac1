"""Exports official SAM 2.1 modules (synthetic weights) to ONNX for the peer benchmark (bench/peers).

    tools/reference/.venv/bin/python tools/reference/export_onnx.py [--out bench/peers/models] [--sizes 256,512]
        [--only encoder,memory_attention,mask_decoder,memory_encoder] [--config sam2.1_hiera_t]

Every model is opset 17, static shapes, f32, exported with the TorchScript exporter (dynamo=False) from the
official module of `sam2` 1.1.0 (imported from the reference venv) with the project's synthetic weights
(weights/README.md). Per module and image size S (h = S / 16) it writes into --out:

    <name>.onnx                         the model
    <name>.inputs/<input>.bin           raw little-endian f32 inputs (deterministic)
    <name>.outputs/<output>.bin         the official PyTorch module's outputs on those inputs
    manifest.json                       names, shapes and files of every model's inputs and outputs, and the
                                        max|Δ| of onnxruntime (CPU, Python) against PyTorch for each output

Modules (the functions a tracking step runs):

    encoder_S            SAM2Base.forward_image: image [1,3,S,S] -> vision_features [1,256,h,h],
                         fpn0 = conv_s0(level 0) [1,32,4h,4h], fpn1 = conv_s1(level 1) [1,64,2h,2h]
    memory_attention_S   MemoryAttention with a full bank: curr, curr_pos [h², 1, 256], memory, memory_pos
                         [7·h² + 64, 1, 64] (7 memories + 16 object pointers as 64 tokens) -> [h², 1, 256]
    mask_decoder_S       PromptEncoder(points) + MaskDecoder(multimask_output=True, high-res features):
                         image_embeddings [1,256,h,h], fpn0, fpn1, point_coords [1,2,2] (input-image pixels),
                         point_labels [1,2] (f32: 1 positive, 0 negative) -> masks [1,3,4h,4h], iou [1,3],
                         sam_tokens [1,3,256], object_score [1,1]
    memory_encoder_S     MemoryEncoder(skip_mask_sigmoid=True): pix_feat [1,256,h,h], mask [1,1,S,S]
                         (sigmoid(logits) * 20 - 10) -> features [1,64,h,h]

Two changes make the official modules export and load everywhere; neither changes a value:

  * RoPEAttention's complex-number rotary embedding (view_as_complex / polar) does not export (neither
    exporter supports complex tensors). Inside the export wrapper RoPEAttention.forward is replaced by the
    same computation in real arithmetic: pairs (x0, x1) -> (x0·cos − x1·sin, x0·sin + x1·cos) with the cos /
    sin of the official freqs_cis table, keys beyond num_k_exclude_rope concatenated unrotated instead of
    assigned in place.
  * Hiera's position embedding (bicubic interpolation of pos_embed plus pos_embed_window tiled over the
    grid) depends only on the weights and the image size. Exported as is, `tile` becomes `If` nodes whose
    branches have different ranks, and onnxruntime-web's shape inference rejects the model ("Can't merge
    shape info ... Inferred=4 Declared=5"). The embedding is computed once in PyTorch and stored as a
    constant.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import types
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import harness  # noqa: E402

OPSET = 17


# ---------------------------------------------------------------- export-friendly replacements


def rope_real(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, heads, N, D] rotated pairwise; cos / sin [N, D/2] (the real and imaginary parts of freqs_cis)."""
    shape = x.shape
    xr = x.reshape(shape[0], shape[1], shape[2], shape[3] // 2, 2)
    x0 = xr[..., 0]
    x1 = xr[..., 1]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.reshape(shape)


def rope_attention_forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_k_exclude_rope: int = 0) -> torch.Tensor:
    """sam2.modeling.sam.transformer.RoPEAttention.forward with the rotary embedding in real arithmetic."""
    q = self.q_proj(q)
    k = self.k_proj(k)
    v = self.v_proj(v)
    q = self._separate_heads(q, self.num_heads)
    k = self._separate_heads(k, self.num_heads)
    v = self._separate_heads(v, self.num_heads)
    n_q = q.shape[-2]
    side = int(math.isqrt(n_q))
    assert side * side == n_q
    freqs = self.compute_cis(end_x=side, end_y=side)  # complex [n_q, D/2], the official table
    cos = freqs.real.float()
    sin = freqs.imag.float()
    num_k_rope = k.shape[-2] - num_k_exclude_rope
    q = rope_real(q, cos, sin)
    if num_k_rope > 0:
        if num_k_rope != n_q:
            assert self.rope_k_repeat and num_k_rope % n_q == 0
            r = num_k_rope // n_q
            cos_k, sin_k = cos.repeat(r, 1), sin.repeat(r, 1)
        else:
            cos_k, sin_k = cos, sin
        k_rot = rope_real(k[:, :, :num_k_rope], cos_k, sin_k)
        k = torch.cat((k_rot, k[:, :, num_k_rope:]), dim=2) if num_k_exclude_rope > 0 else k_rot
    out = F.scaled_dot_product_attention(q, k, v)
    out = self._recombine_heads(out)
    return self.out_proj(out)


def patch_rope(model: torch.nn.Module) -> None:
    from sam2.modeling.sam.transformer import RoPEAttention

    for m in model.modules():
        if isinstance(m, RoPEAttention):
            m.forward = types.MethodType(rope_attention_forward, m)


class official_forward:
    """Within the block, the patched modules run their official (class) methods again."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.saved = []

    def __enter__(self):
        for m in self.model.modules():
            for attr in ("forward", "_get_pos_embed"):
                if attr in m.__dict__:
                    self.saved.append((m, attr, m.__dict__.pop(attr)))
        return self

    def __exit__(self, *exc):
        for m, attr, fn in self.saved:
            setattr(m, attr, fn)
        self.saved = []


def freeze_hiera_pos_embed(model: torch.nn.Module) -> None:
    """Hiera._get_pos_embed for the model's image size, computed once and returned as a constant."""
    trunk = model.image_encoder.trunk
    side = model.image_size // 4  # patch_embed stride
    with torch.no_grad():
        table = trunk._get_pos_embed((side, side)).detach().clone().contiguous()
    trunk.register_buffer("frozen_pos_embed", table, persistent=False)

    def get_pos_embed(self, hw):
        assert tuple(hw) == tuple(self.frozen_pos_embed.shape[1:3])
        return self.frozen_pos_embed

    trunk._get_pos_embed = types.MethodType(get_pos_embed, trunk)


# ---------------------------------------------------------------- wrappers (one per exported model)


class Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        out = self.model.forward_image(image)
        fpn = out["backbone_fpn"]
        return out["vision_features"], fpn[0], fpn[1]


class MemoryAttentionFullBank(torch.nn.Module):
    def __init__(self, model, num_obj_ptr_tokens: int):
        super().__init__()
        self.ma = model.memory_attention
        self.num_obj_ptr_tokens = num_obj_ptr_tokens

    def forward(self, curr, curr_pos, memory, memory_pos):
        return self.ma(curr=curr, curr_pos=curr_pos, memory=memory, memory_pos=memory_pos, num_obj_ptr_tokens=self.num_obj_ptr_tokens)


class MaskDecoderWithPrompts(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.pe = model.sam_prompt_encoder
        self.dec = model.sam_mask_decoder

    def forward(self, image_embeddings, fpn0, fpn1, point_coords, point_labels):
        sparse, dense = self.pe(points=(point_coords, point_labels), boxes=None, masks=None)
        masks, iou, tokens, obj = self.dec(
            image_embeddings=image_embeddings,
            image_pe=self.pe.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
            repeat_image=False,
            high_res_features=[fpn0, fpn1],
        )
        return masks, iou, tokens, obj


class MemoryEncoderStep(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.enc = model.memory_encoder

    def forward(self, pix_feat, mask):
        return self.enc(pix_feat, mask, skip_mask_sigmoid=True)["vision_features"]


# ---------------------------------------------------------------- inputs


def seeded(shape: Sequence[int], seed: int, amp: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(size=tuple(shape)) * amp).astype(np.float32)


def smooth_image(S: int) -> np.ndarray:
    """A normalized smooth test image [1, 3, S, S]."""
    y, x = np.meshgrid(np.arange(S, dtype=np.float64), np.arange(S, dtype=np.float64), indexing="ij")
    r = 0.5 + 0.5 * np.sin(x / S * 7.0 + y / S * 3.0)
    g = 0.5 + 0.5 * np.cos(y / S * 5.0 - x / S * 2.0)
    b = ((x.astype(np.int64) ^ y.astype(np.int64)) & 255) / 255.0
    rgb = np.stack([r, g, b])
    mean = np.array(harness.IMG_MEAN)[:, None, None]
    std = np.array(harness.IMG_STD)[:, None, None]
    return ((rgb - mean) / std)[None].astype(np.float32)


def module_cases(model, S: int, only: Sequence[str]):
    cfg_h = S // 16
    L = cfg_h * cfg_h
    ptr_tokens = model.max_obj_ptrs_in_encoder * (model.hidden_dim // model.mem_dim)
    M = model.num_maskmem * L + ptr_tokens
    cases = []
    if "encoder" in only:
        cases.append((f"encoder_{S}", Encoder(model), {"image": smooth_image(S)}, ["vision_features", "fpn0", "fpn1"], {}))
    if "memory_attention" in only:
        inputs = {
            "curr": seeded([L, 1, 256], 1),
            "curr_pos": seeded([L, 1, 256], 2, 0.5),
            "memory": seeded([M, 1, 64], 3),
            "memory_pos": seeded([M, 1, 64], 4, 0.5),
        }
        cases.append((f"memory_attention_{S}", MemoryAttentionFullBank(model, ptr_tokens), inputs, ["output"], {"num_obj_ptr_tokens": ptr_tokens}))
    if "mask_decoder" in only:
        inputs = {
            "image_embeddings": seeded([1, 256, cfg_h, cfg_h], 5),
            "fpn0": seeded([1, 32, 4 * cfg_h, 4 * cfg_h], 6),
            "fpn1": seeded([1, 64, 2 * cfg_h, 2 * cfg_h], 7),
            "point_coords": np.array([[[0.40 * S, 0.55 * S], [0.70 * S, 0.30 * S]]], dtype=np.float32),
            "point_labels": np.array([[1.0, 0.0]], dtype=np.float32),
        }
        cases.append((f"mask_decoder_{S}", MaskDecoderWithPrompts(model), inputs, ["masks", "iou", "sam_tokens", "object_score"], {}))
    if "memory_encoder" in only:
        logits = seeded([1, 1, S, S], 9, 8.0)
        mask = (1.0 / (1.0 + np.exp(-logits.astype(np.float64))) * 20.0 - 10.0).astype(np.float32)
        inputs = {"pix_feat": seeded([1, 256, cfg_h, cfg_h], 8), "mask": mask}
        cases.append((f"memory_encoder_{S}", MemoryEncoderStep(model), inputs, ["features"], {}))
    return cases


def write_bin(path: str, a: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.ascontiguousarray(a, dtype="<f4").tofile(path + ".tmp")
    os.replace(path + ".tmp", path)


def run_wrapper(wrapper: torch.nn.Module, args) -> List[np.ndarray]:
    with torch.no_grad():
        out = wrapper(*args)
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [r.detach().float().numpy() for r in out]


def export_one(out_dir: str, model, name: str, wrapper: torch.nn.Module, inputs: Dict[str, np.ndarray], output_names: List[str], extra: dict) -> dict:
    import onnx
    import onnxruntime as ort

    wrapper.eval()
    args = tuple(torch.from_numpy(v) for v in inputs.values())
    with official_forward(model):
        ref = run_wrapper(wrapper, args)  # the official modules, unpatched: the reference outputs
    patched = run_wrapper(wrapper, args)
    patch_delta = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(patched, ref))
    path = os.path.join(out_dir, f"{name}.onnx")
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            args,
            path + ".tmp",
            input_names=list(inputs.keys()),
            output_names=output_names,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(path + ".tmp")
    onnx.checker.check_model(proto)
    ops = sorted({n.op_type for n in proto.graph.node})
    os.replace(path + ".tmp", path)
    for k, v in inputs.items():
        write_bin(os.path.join(out_dir, f"{name}.inputs", f"{k}.bin"), v)
    for k, v in zip(output_names, ref):
        write_bin(os.path.join(out_dir, f"{name}.outputs", f"{k}.bin"), v)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(output_names, {k: v for k, v in inputs.items()})
    deltas = {k: float(np.max(np.abs(g.astype(np.float64) - r.astype(np.float64)))) for k, g, r in zip(output_names, got, ref)}
    scale = {k: float(np.max(np.abs(r))) for k, r in zip(output_names, ref)}
    print(f"{name}: export wrapper vs official max|Δ| {patch_delta:.2e}; {len(proto.graph.node)} nodes, {os.path.getsize(path) / 2**20:.1f} MiB, onnxruntime CPU vs PyTorch max|Δ| "
          + ", ".join(f"{k} {deltas[k]:.2e} (max|ref| {scale[k]:.2g})" for k in output_names), flush=True)
    return {
        "file": f"{name}.onnx",
        "inputs": [{"name": k, "shape": list(v.shape), "file": f"{name}.inputs/{k}.bin"} for k, v in inputs.items()],
        "outputs": [{"name": k, "shape": list(r.shape), "file": f"{name}.outputs/{k}.bin"} for k, r in zip(output_names, ref)],
        "wrapperVsOfficialMaxAbsDiff": patch_delta,
        "ortCpuMaxAbsDiff": deltas,
        "refMaxAbs": scale,
        "ops": ops,
        **extra,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(REPO, "bench", "peers", "models"))
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--only", default="encoder,memory_attention,mask_decoder,memory_encoder")
    p.add_argument("--config", default="sam2.1_hiera_t")
    p.add_argument("--plain-pos-embed", action="store_true", help="export Hiera's position embedding as is (onnxruntime-web refuses that model)")
    args = p.parse_args()
    harness.set_determinism(threads=max(1, os.cpu_count() or 1))
    import warnings

    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.use_deterministic_algorithms(False)
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = {"config": args.config, "opset": OPSET, "torch": torch.__version__, "models": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = json.load(f)
        if old.get("config") == args.config:
            manifest["models"] = old.get("models", {})
    only = args.only.split(",")
    for S in [int(s) for s in args.sizes.split(",")]:
        model = harness.build_predictor(args.config, image_size=S)
        patch_rope(model)
        if not args.plain_pos_embed:
            freeze_hiera_pos_embed(model)
        for name, wrapper, inputs, outs, extra in module_cases(model, S, only):
            entry = export_one(args.out, model, name, wrapper, inputs, outs, extra)
            entry["imageSize"] = S
            manifest["models"][name] = entry
            with open(manifest_path + ".tmp", "w") as f:
                json.dump(manifest, f, indent=1)
            os.replace(manifest_path + ".tmp", manifest_path)
    print(f"wrote {manifest_path}")


if __name__ == "__main__":
    main()
