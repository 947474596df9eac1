"""CPU stand-in for the connected-components step of the official sam2 hole filling.

The official `sam2.utils.misc.fill_holes_in_mask_scores(mask, max_area)` labels the connected components of
`mask <= 0` with the package's CUDA extension (`sam2._C.get_connected_componnets`, 8-connectivity) and
sets every pixel of a component whose area is <= max_area to 0.1. Without the extension (any CPU-only
install) the call raises, the official code warns and leaves the mask unchanged.

`patched()` swaps in `get_connected_components` below so that the *official* fill function runs its own
area rule and fill value on CPU; nothing else of the official code is replaced. The contract matches the
CUDA kernel: input (N, 1, H, W) of 0/1, outputs `labels` (N, 1, H, W) int32 with 0 on background and a
positive component id on foreground, and `counts` (N, 1, H, W) int32 holding, on every foreground pixel, the
area of its component (0 on background). Component ids differ from the kernel's, but the fill only tests
`labels > 0` and `counts`, which do not depend on the numbering.
"""
from __future__ import annotations

import contextlib
from collections import deque
from typing import Iterator, Tuple

import numpy as np
import torch

_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _label_8(img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """8-connected components of a 2-D boolean image: (labels, per-pixel component area)."""
    h, w = img.shape
    labels = np.zeros((h, w), dtype=np.int32)
    counts = np.zeros((h, w), dtype=np.int32)
    fg = img.tolist()
    lab = labels.tolist()
    next_id = 0
    for y0 in range(h):
        row = fg[y0]
        for x0 in range(w):
            if not row[x0] or lab[y0][x0]:
                continue
            next_id += 1
            lab[y0][x0] = next_id
            queue = deque([(y0, x0)])
            members = []
            while queue:
                y, x = queue.popleft()
                members.append((y, x))
                for dy, dx in _NEIGHBOURS:
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and fg[yy][xx] and not lab[yy][xx]:
                        lab[yy][xx] = next_id
                        queue.append((yy, xx))
            area = len(members)
            for y, x in members:
                counts[y, x] = area
    labels[:] = np.asarray(lab, dtype=np.int32)
    return labels, counts


def get_connected_components(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Same contract as sam2.utils.misc.get_connected_components, computed on the CPU."""
    if mask.dim() != 4 or mask.size(1) != 1:
        raise ValueError(f"expected a (N, 1, H, W) mask, got {tuple(mask.shape)}")
    m = mask.to(torch.uint8).cpu().numpy() > 0
    labels = np.zeros(m.shape, dtype=np.int32)
    counts = np.zeros(m.shape, dtype=np.int32)
    for n in range(m.shape[0]):
        labels[n, 0], counts[n, 0] = _label_8(m[n, 0])
    return torch.from_numpy(labels).to(mask.device), torch.from_numpy(counts).to(mask.device)


@contextlib.contextmanager
def patched(enabled: bool = True) -> Iterator[None]:
    """Within the block, the official hole filling uses the CPU connected components (if enabled)."""
    import sam2.utils.misc as misc

    original = misc.get_connected_components
    if enabled:
        misc.get_connected_components = get_connected_components
    try:
        yield
    finally:
        misc.get_connected_components = original
