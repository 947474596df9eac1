"""Writes test/fixtures/ckpt/: small checkpoints in the official format (torch.save of {"model": state_dict})
and what PyTorch says their tensors are, for the TypeScript converter tests.

  small.pt                      a module's state_dict (so it carries `_metadata`, written through BUILD) plus
                                tensors of every dtype the converter handles (f32, f16, bf16, f64, i64, i32,
                                u8, bool), f32 edge values for the f16 rounding (ties, subnormals, overflow,
                                inf, nan, -0), a transposed view, two views sharing one storage (one with a
                                storage offset), a stride-0 expanded tensor, a 0-d scalar and an empty tensor
  small_proto4.pt               the same state dict saved with pickle protocol 4, plus extra top-level keys
  expected.safetensors          the same tensors made contiguous, original dtypes (python `safetensors`)
  expected_f32.safetensors      what `convert --dtype f32` must write: float tensors as torch's .float()
  expected_f16.safetensors      what `convert --dtype f16` must write: float tensors as torch's .half()
  sam2.1_hiera_t_expanded.pt    every tensor of the official sam2.1_hiera_t state dict with its real shape,
                                each a stride-0 expansion of a random vector of its last dimension (so the
                                file is ~0.8 MB, not 156 MB): config inference and strided reads at scale
  unsafe_global.pt              a checkpoint whose pickle calls os.system (must be refused, never run)
  plain_p{2,4}.pkl              plain pickles of PLAIN_VALUES (ints of every width, floats, None, bools, str)
  bytes_p{2,4}.pkl              b'xy' pickled: protocol 4 uses SHORT_BINBYTES, protocol 2 a _codecs.encode
                                call (which the unpickler must refuse)

Run: tools/reference/.venv/bin/python tools/reference/make_ckpt_fixture.py [out_dir]
"""
import json
import os
import pickle
import sys

import torch
from safetensors.torch import save_file

# Mirrored in test/weights/convert.test.ts.
PLAIN_VALUES = {"a": (1, -2, 300, 70000, -70000, 2**40, -(2**70), 1.5, None, True, False, ["x" * 300], "é"), 7: {}}

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3)
        self.norm = torch.nn.LayerNorm(16)
        self.proj = torch.nn.Linear(16, 32)
        self.bn = torch.nn.BatchNorm2d(4)  # running stats and an int64 scalar buffer (num_batches_tracked)


def f16_edge_values() -> torch.Tensor:
    """f32 values that exercise every branch of round-to-nearest-even f32 -> f16."""
    h = lambda bits: torch.tensor([bits], dtype=torch.int16).view(torch.float16).float().item()  # noqa: E731
    vals = [
        0.0, -0.0, 1.0, -2.5, 65504.0, 65520.0, 65519.99, 1e6, -1e6,  # max, round-to-inf boundary, overflow
        float("inf"), float("-inf"), float("nan"),
        2.0**-14, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0001, 2.0**-26, 3 * 2.0**-25, 1e-8, -1e-7, 6e-5,  # subnormals
        1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2.0**-11 + 2.0**-20,  # ties to even, above tie
        h(0x3BFF) + 2.0**-12, 2047.5, 2048.5, 4095.0,
    ]
    g = torch.Generator().manual_seed(1)
    rand = torch.randn(4000, generator=g) * torch.exp2(torch.randint(-30, 18, (4000,), generator=g).float())
    return torch.cat([torch.tensor(vals, dtype=torch.float32), rand])


def small_state_dict() -> "dict[str, torch.Tensor]":
    torch.manual_seed(0)
    sd = Small().state_dict()  # an OrderedDict with `_metadata`
    base = torch.randn(48, 40)
    sd["extra.f32_edges"] = f16_edge_values()
    sd["extra.f16"] = torch.randn(7, 33).half()
    sd["extra.bf16"] = torch.randn(5, 3, 9).bfloat16()
    sd["extra.f64"] = torch.randn(6, 5, dtype=torch.float64)
    sd["extra.i64"] = torch.tensor([0, 1, -1, 2**40, -(2**62), 7], dtype=torch.int64)
    sd["extra.i32"] = torch.arange(-12, 12, dtype=torch.int32).reshape(4, 6)
    sd["extra.u8"] = torch.arange(0, 250, 7, dtype=torch.uint8)
    sd["extra.bool"] = torch.tensor([True, False, True, True])
    sd["extra.transposed"] = torch.randn(24, 36).t()  # stride (1, 36)
    sd["extra.shared_a"] = base  # two views of one storage
    sd["extra.shared_b"] = base[5:29:2, 3:31:3]  # storage offset 203, strides (80, 3)
    sd["extra.permuted"] = torch.randn(2, 3, 4, 5).permute(3, 1, 0, 2)
    sd["extra.expanded"] = torch.randn(1, 9).expand(6, 9)  # stride (0, 1)
    sd["extra.scalar"] = torch.tensor(3.25)
    sd["extra.empty"] = torch.zeros(0, 4)
    sd["extra.f16_transposed"] = torch.randn(10, 6).half().t()
    assert not sd["extra.transposed"].is_contiguous() and not sd["extra.shared_b"].is_contiguous()
    return sd


def dense(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().clone()


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    sd = small_state_dict()
    torch.save({"model": sd}, os.path.join(out, "small.pt"))
    # The same with pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL...) and extra top-level
    # entries beside "model", as training checkpoints have.
    torch.save({"model": sd, "epoch": 7, "lr": 2.5e-4, "note": "x" * 300, "steps": [1, 2**70]},
               os.path.join(out, "small_proto4.pt"), pickle_protocol=4)

    floats = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
    expected = {k: dense(v) for k, v in sd.items()}
    as_f32 = {k: (v.float() if v.dtype in floats else v) for k, v in expected.items()}
    as_f16 = {k: (v.half() if v.dtype != torch.float64 else v.float().half()) if v.dtype in floats else v
              for k, v in expected.items()}
    meta = {"source": "small.pt"}
    save_file({k: v for k, v in expected.items() if v.dtype != torch.float64}, os.path.join(out, "expected.safetensors"), meta)
    save_file(as_f32, os.path.join(out, "expected_f32.safetensors"), meta)
    save_file(as_f16, os.path.join(out, "expected_f16.safetensors"), meta)

    # The official sam2.1_hiera_t key set with real shapes, stored as stride-0 expansions of small vectors.
    with open(os.path.join(ROOT, "weights", "manifests", "sam2.1_hiera_t.json")) as f:
        manifest = json.load(f)
    g = torch.Generator().manual_seed(2)
    big = {}
    for t in manifest["tensors"]:
        shape = t["shape"]
        vec = torch.randn(shape[-1] if shape else 1, generator=g)
        big[t["name"]] = vec.reshape([1] * (len(shape) - 1) + [shape[-1]]).expand(shape) if shape else vec[0].clone()
    torch.save({"model": big}, os.path.join(out, "sam2.1_hiera_t_expanded.pt"))

    class Unsafe:
        def __reduce__(self):
            return (os.system, ("echo this must never run",))

    torch.save({"model": {"w": torch.zeros(2)}, "payload": Unsafe()}, os.path.join(out, "unsafe_global.pt"))

    for protocol in (2, 4):
        with open(os.path.join(out, f"plain_p{protocol}.pkl"), "wb") as f:
            pickle.dump(PLAIN_VALUES, f, protocol=protocol)
        with open(os.path.join(out, f"bytes_p{protocol}.pkl"), "wb") as f:
            pickle.dump(b"xy", f, protocol=protocol)

    for name in sorted(os.listdir(out)):
        print(f"{name}: {os.path.getsize(os.path.join(out, name)):,} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "test", "fixtures", "ckpt"))
