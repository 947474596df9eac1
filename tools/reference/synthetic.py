"""Deterministic synthetic weights for every tensor of an official SAM 2 / SAM 2.1 state_dict.

Every value depends only on (tensor name, flat element index); there is no random generator state.
The TypeScript twin is src/checkpoint/synthetic.ts and the rule is specified in weights/README.md: the two must
stay bit-identical (the per-tensor checksums in weights/checksums/*.json are checked by
test/weights/synthetic.test.ts).

    seed  = FNV-1a-32(UTF-8 bytes of the tensor name)
    x     = fmix32((i * 0x9E3779B1 + seed) mod 2^32)          (murmur3 finalizer)
    u     = ((x >> 8) - 2^23) / 2^23                           in [-1, 1), 24 bits, exact in f32
    value = f32(u * scale + offset)                            computed in float64, rounded once

`scale` and `offset` come from the first matching entry of RULES below. Every scale is built from
integers with only +, *, / and sqrt, which IEEE 754 rounds correctly, so numpy and JavaScript get the same
float64 and therefore the same f32.
"""
from __future__ import annotations

import json
import math
import os
import re
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
GOLDEN = 0x9E3779B1
CHECKSUM_MODULUS = 65521  # weights of the second checksum: (i mod 65521) + 1

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
MANIFEST_DIR = os.path.join(REPO, "weights", "manifests")
CHECKSUM_DIR = os.path.join(REPO, "weights", "checksums")

CONFIG_NAMES = [
    "sam2.1_hiera_t",
    "sam2.1_hiera_s",
    "sam2.1_hiera_b+",
    "sam2.1_hiera_l",
    "sam2_hiera_t",
    "sam2_hiera_s",
    "sam2_hiera_b+",
    "sam2_hiera_l",
]


def config_file(name: str) -> str:
    """The official Hydra config of a config name: configs/sam2.1/<name>.yaml or configs/sam2/<name>.yaml."""
    return f"configs/{'sam2.1' if name.startswith('sam2.1_') else 'sam2'}/{name}.yaml"


CONFIG_FILES = {name: config_file(name) for name in CONFIG_NAMES}


def fnv1a32(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def _fan_in(shape: Sequence[int]) -> int:
    """Inputs per output of a Linear [out, in] or Conv2d [out, in/groups, kh, kw] weight."""
    n = 1
    for d in shape[1:]:
        n *= d
    return n


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# (rule id, name pattern, rank condition, (scale, offset) as a function of the shape). First match wins;
# patterns must match the whole name; rank condition None = any rank, "1" = 1-D only, "2+" = 2-D or more.
# Keep in sync with src/checkpoint/synthetic.ts and the table in weights/README.md.
Spec = Tuple[float, float]
RULES: List[Tuple[str, str, Optional[str], Callable[[Sequence[int]], Spec]]] = [
    # Random Fourier features of the prompt encoder: unit variance, like the official N(0, 1) buffer.
    ("fourier", r"sam_prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix", None, lambda s: (math.sqrt(3.0), 0.0)),
    # nn.Embedding tables (point / box-corner / not-a-point / no-mask embeddings, decoder output tokens):
    # unit variance, like nn.Embedding's N(0, 1) initialisation.
    (
        "embedding",
        r"sam_prompt_encoder\.(point_embeddings\.\d+|not_a_point_embed|no_mask_embed)\.weight"
        r"|sam_mask_decoder\.(iou_token|mask_tokens|obj_score_token)\.weight",
        None,
        lambda s: (math.sqrt(3.0), 0.0),
    ),
    # Hiera's absolute position embeddings (background + window): modest.
    ("pos_embed", r"image_encoder\.trunk\.pos_embed(_window)?", None, lambda s: (0.25, 0.0)),
    # Memory-side learned embeddings: modest, so they shift but do not swamp what they are added to.
    ("memory_embed", r"no_mem_embed|no_mem_pos_enc|maskmem_tpos_enc", None, lambda s: (0.25, 0.0)),
    # What replaces a pointer / is added to a memory when the object is absent: O(1), so absence shows.
    ("no_object", r"no_obj_ptr|no_obj_embed_spatial", None, lambda s: (1.0, 0.0)),
    # ConvNeXt layer scale of the memory encoder's fuser (official init 1e-6): large enough that the fuser
    # changes the memory.
    ("layer_scale", r"memory_encoder\.fuser\.layers\.\d+\.gamma", None, lambda s: (0.1, 0.5)),
    # The memory encoder's projection of the image features: a quarter of the fan-in scale, so the encoded
    # mask is not drowned by the (larger) image features it is added to.
    ("pix_feat_proj", r"memory_encoder\.pix_feat_proj\.weight", None, lambda s: (math.sqrt(3.0 / (16 * _fan_in(s))), 0.0)),
    # Object-score head output bias: positive, so prompted objects are present unless a case overrides it.
    ("obj_score_bias", r"sam_mask_decoder\.pred_obj_score_head\.layers\.2\.bias", None, lambda s: (0.05, 2.0)),
    # Output layer of the mask decoder's hypernetwork MLPs: 3x the fan-in scale, so mask logits reach the
    # magnitudes of a trained SAM (tens) and the single-mask stability test sees both outcomes.
    ("hypernetwork_out", r"sam_mask_decoder\.output_hypernetworks_mlps\.\d+\.layers\.2\.weight", None,
     lambda s: (math.sqrt(27.0 / _fan_in(s)), 0.0)),
    # ConvTranspose2d weights [in, out, k, k] with stride == kernel: each output pixel sees every input
    # channel through exactly one tap, so the fan-in is shape[0].
    ("conv_transpose", r"sam_mask_decoder\.output_upscaling\.[03]\.weight", None, lambda s: (math.sqrt(3.0 / s[0]), 0.0)),
    # Every other weight with 2+ dims (Linear, Conv2d, depthwise Conv2d): variance 1 / fan_in.
    ("fan_in", r".*\.weight", "2+", lambda s: (math.sqrt(3.0 / _fan_in(s)), 0.0)),
    # 1-D weights are LayerNorm / LayerNorm2d scales: near 1.
    ("norm_weight", r".*\.weight", "1", lambda s: (0.1, 1.0)),
    # Biases (Linear, Conv2d, LayerNorm): small.
    ("bias", r".*\.bias", None, lambda s: (0.05, 0.0)),
]

_COMPILED = [(rid, re.compile(pattern), rank, fn) for rid, pattern, rank, fn in RULES]


def rule_for(name: str, shape: Sequence[int]) -> Tuple[str, float, float]:
    """(rule id, scale, offset) of a tensor."""
    for rid, rx, rank, fn in _COMPILED:
        if not rx.fullmatch(name):
            continue
        if rank == "2+" and len(shape) < 2:
            continue
        if rank == "1" and len(shape) != 1:
            continue
        scale, offset = fn(shape)
        return rid, float(scale), float(offset)
    raise KeyError(f"no synthetic-weight rule for tensor {name} {list(shape)}")


def uniform(name: str, n: int) -> np.ndarray:
    """u in [-1, 1) (float64, 24-bit values) for elements 0..n-1 of tensor `name`."""
    seed = np.uint32(fnv1a32(name.encode("utf-8")))
    x = np.arange(n, dtype=np.uint32)
    x *= np.uint32(GOLDEN)
    x += seed
    # murmur3 fmix32
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return ((x >> np.uint32(8)).astype(np.float64) - 8388608.0) / 8388608.0


def synthetic_tensor(name: str, shape: Sequence[int]) -> np.ndarray:
    """The f32 values of one tensor, shaped."""
    _, scale, offset = rule_for(name, shape)
    u = uniform(name, _prod(shape))
    return (u * scale + offset).astype(np.float32).reshape(tuple(shape))


Overrides = Mapping[str, Sequence[float]]


def apply_override(name: str, shape: Sequence[int], values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    if v.size != _prod(shape):
        raise ValueError(f"override for {name} has {v.size} values, tensor has shape {list(shape)}")
    return v.reshape(tuple(shape))


def load_manifest(config: str) -> dict:
    with open(os.path.join(MANIFEST_DIR, f"{config}.json")) as f:
        return json.load(f)


def synthetic_state_dict(config: str, overrides: Optional[Overrides] = None) -> Dict[str, "np.ndarray"]:
    """Every tensor of the config's official state_dict, in manifest order. `overrides` replaces whole tensors
    by explicit values (documented per case in weights/README.md and recorded in fixture metadata)."""
    overrides = dict(overrides or {})
    out: Dict[str, np.ndarray] = {}
    for t in load_manifest(config)["tensors"]:
        name, shape = t["name"], t["shape"]
        if t["dtype"] != "float32":
            raise ValueError(f"{name}: only float32 tensors are expected, got {t['dtype']}")
        if name in overrides:
            out[name] = apply_override(name, shape, overrides.pop(name))
        else:
            out[name] = synthetic_tensor(name, shape)
    if overrides:
        raise KeyError(f"overrides name tensors not in {config}: {sorted(overrides)}")
    return out


def torch_state_dict(config: str, overrides: Optional[Overrides] = None):
    import torch

    return {k: torch.from_numpy(v) for k, v in synthetic_state_dict(config, overrides).items()}


# ---------------------------------------------------------------------------------------------------------
# Checksums


def tensor_checksum(values: np.ndarray) -> Tuple[int, int]:
    """(sum, weighted sum) mod 2^32 of the f32 bit patterns; weight of element i is (i mod 65521) + 1."""
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    n = bits.size
    w = (np.arange(n, dtype=np.uint64) % np.uint64(CHECKSUM_MODULUS)) + np.uint64(1)
    s1 = int(bits.sum(dtype=np.uint64)) & 0xFFFFFFFF
    # (bits * w) < 2^32 * 2^16, and the uint64 sum wraps mod 2^64, so the low 32 bits are exact.
    s2 = int((bits * w).sum(dtype=np.uint64)) & 0xFFFFFFFF
    return s1, s2


def config_digest(entries: Iterable[Tuple[str, Sequence[int], int, int]]) -> str:
    """FNV-1a-32 over one line per tensor, "name|d0,d1,..|sum|wsum\\n", in manifest order; 8 hex digits."""
    text = "".join(f"{n}|{','.join(str(d) for d in s)}|{a}|{b}\n" for n, s, a, b in entries)
    return f"{fnv1a32(text.encode('utf-8')):08x}"


def checksum_document(config: str) -> dict:
    manifest = load_manifest(config)
    tensors = []
    entries = []
    for t in manifest["tensors"]:
        name, shape = t["name"], t["shape"]
        rid, scale, offset = rule_for(name, shape)
        s1, s2 = tensor_checksum(synthetic_tensor(name, shape))
        tensors.append({"name": name, "shape": shape, "rule": rid, "sum": s1, "wsum": s2})
        entries.append((name, shape, s1, s2))
    return {
        "config": config,
        "rule": "sam2-webgpu synthetic weights v1 (weights/README.md)",
        "num_tensors": len(tensors),
        "num_params": int(sum(_prod(t["shape"]) for t in tensors)),
        "digest": config_digest(entries),
        "tensors": tensors,
    }


def dumps_one_tensor_per_line(doc: dict) -> str:
    """JSON with one line per tensor entry (small diffs, easy to grep)."""
    head = {k: v for k, v in doc.items() if k != "tensors"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "tensors": [']
    rows = [" " + json.dumps(t, separators=(", ", ": ")) for t in doc["tensors"]]
    return "\n".join(lines + [",\n".join(rows), " ]", "}"]) + "\n"


def write_checksums(out_dir: str = CHECKSUM_DIR, configs: Iterable[str] = CONFIG_NAMES) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for config in configs:
        doc = checksum_document(config)
        path = os.path.join(out_dir, f"{config}.json")
        with open(path + ".tmp", "w") as f:
            f.write(dumps_one_tensor_per_line(doc))
        os.replace(path + ".tmp", path)
        paths.append(path)
        print(f"checksums {config}: {doc['num_tensors']} tensors, {doc['num_params']:,} params, digest {doc['digest']}")
    return paths


def iter_rules(config: str) -> Iterator[Tuple[str, List[int], str, float, float]]:
    for t in load_manifest(config)["tensors"]:
        rid, scale, offset = rule_for(t["name"], t["shape"])
        yield t["name"], t["shape"], rid, scale, offset


if __name__ == "__main__":
    write_checksums()
