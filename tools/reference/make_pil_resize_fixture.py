"""test/kernels/data/pil_resize.json: Pillow bicubic resizes (Image.resize's default filter, as the official
frame loader calls it) of small seeded images, and the official frame loader's normalisation of every byte
value in torch.

- `cases`: per (w, h) -> (ow, oh): `src` (h x w x 3 uint8, row-major; channel 0 a horizontal ramp, the others
  seeded noise, so that up- and downsampling both see structure) and `out`, Pillow's resize of it;
- `table` [3, 256]: (f32(u8 / 255) - f32(mean)) / f32(std) per channel, as sam2.utils.misc computes it.

Written by `regenerate.sh` (group `pil_resize`), or alone:
tools/reference/.venv/bin/python tools/reference/make_pil_resize_fixture.py
"""
from __future__ import annotations

import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "test", "kernels", "data", "pil_resize.json")

# (w, h, ow, oh); the repeated case draws new pixels from the generator
SIZES = [(37, 23, 64, 64), (48, 27, 64, 64), (50, 70, 33, 17), (40, 40, 40, 40), (80, 45, 32, 32), (50, 70, 33, 17),
         (50, 100, 20, 34)]
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


def build() -> dict:
    import torch
    from PIL import Image

    rng = np.random.default_rng(7)
    cases = []
    for (w, h, ow, oh) in SIZES:
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        _, xx = np.mgrid[0:h, 0:w]
        img[..., 0] = ((xx * 255) // max(w - 1, 1)).astype(np.uint8)
        out = np.array(Image.fromarray(img, "RGB").resize((ow, oh)))
        cases.append({"w": w, "h": h, "ow": ow, "oh": oh, "src": img.flatten().tolist(), "out": out.flatten().tolist()})
    v = torch.from_numpy(np.arange(256, dtype=np.uint8)[None, None, :].repeat(3, 0) / 255.0)
    t = torch.zeros(3, 1, 256, dtype=torch.float32)
    t[:] = v
    t -= torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
    t /= torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
    return {"cases": cases, "table": t.flatten().tolist()}


def write(path: str = OUT) -> str:
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(build(), f)
    os.replace(tmp, path)
    print(f"  wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")
    return path


if __name__ == "__main__":
    write()
