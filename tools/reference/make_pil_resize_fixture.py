"""Writes test/kernels/data/pil_resize.json: Pillow bicubic resizes (Image.resize default) of small seeded
images, and the official frame loader's normalization of every byte value in torch. Run from the repo root."""
import numpy as np, json
from PIL import Image
rng = np.random.default_rng(7)
cases = []
for (w, h, ow, oh) in [(37, 23, 64, 64), (48, 27, 64, 64), (50, 70, 33, 17), (40, 40, 40, 40), (80, 45, 32, 32), (50, 70, 33, 17), (50, 100, 20, 34)]:
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    # smooth structure plus noise so both up- and downsampling are exercised
    yy, xx = np.mgrid[0:h, 0:w]
    img[..., 0] = ((xx * 255) // max(w - 1, 1)).astype(np.uint8)
    out = np.array(Image.fromarray(img, 'RGB').resize((ow, oh)))
    cases.append({"w": w, "h": h, "ow": ow, "oh": oh, "src": img.flatten().tolist(), "out": out.flatten().tolist()})
json.dump(cases, open('test/kernels/data/pil_resize.json', 'w'))
import torch
v = torch.from_numpy(np.arange(256, dtype=np.uint8)[None, None, :].repeat(3, 0) / 255.0)
t = torch.zeros(3, 1, 256, dtype=torch.float32); t[:] = v
t -= torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)[:, None, None]
t /= torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)[:, None, None]
d = {"cases": cases, "table": t.flatten().tolist()}
json.dump(d, open('test/kernels/data/pil_resize.json', 'w'))
