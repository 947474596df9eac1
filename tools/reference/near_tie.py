"""A near-tie of the multimask choice: test/fixtures/tiny256/near_tie.safetensors.

On a first click the official video predictor asks the mask decoder for three candidate masks and keeps the
one of highest predicted IoU (torch.argmax, the first index on ties). When the two best predictions are
closer than one f16 step (2^-11 between 0.5 and 1), storing them in f16 can make them equal, and the first
index wins whatever the official values say. The synthetic weights predict well-separated IoUs (the best
candidate leads by about 0.1 on every click of frame 0), so the case makes its near-tie: an override of the
IoU head's output bias (a tensor override of the synthetic rule, weights/README.md) puts the two first
candidates of the notebook's click (object 1, BOY_POINT) in one f16 bucket, the later one ahead by half a
step (2.4e-4), and the third 0.05 below, so that an f16 rounding of the predictions picks the wrong candidate
(an engine that stored them in f16 took the runner-up: cosine 0.42 against the official logits).
The script checks the official predictions it gets (both round to the same f16 value, the later one is
the official choice, the two candidate masks differ: IoU of the binarized candidates below 0.9), then
records the official video predictor's add_new_points_or_box for that click:

  meta: overrides, the click (video pixels), the three IoU predictions, the chosen index and the runner-up,
        the gap and the f16 step, the IoU of the two candidates' masks
  step0.frame0.obj1.pred_masks           [1, 1, 64, 64] f32   low-res logits the predictor stores
  step0.frame0.obj1.video_res_masks.bits packed [540, 960]   video-resolution mask
  candidates.low_res_masks               [1, 3, 64, 64] f32   the three candidates (for the test's message)

Run: tools/reference/.venv/bin/python tools/reference/near_tie.py [--out test/fixtures]
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402
import harness  # noqa: E402
from fixture_io import FixtureWriter  # noqa: E402

IOU_BIAS = "sam_mask_decoder.iou_prediction_head.layers.2.bias"
CENTER = 0.5 + 200 * 2.0 ** -11  # an f16 value; the two candidates sit SPREAD f16 step either side of it
SPREAD = 0.25


def f16_step(v: float) -> float:
    """The spacing of f16 values at |v| (normal range)."""
    return 2.0 ** (math.floor(math.log2(abs(v))) - 10)


def decode(model, image_size: int, point):
    """The official multimask decode of one click on frame 0: candidate logits [1, 3, h, w], IoU predictions [3]."""
    pix, high_res = cases.frame0_features(model, image_size)
    with torch.inference_mode():
        coords = cases.to_model_px([point], image_size)[None]
        labels = torch.tensor([[1]], dtype=torch.int32)
        sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        masks, ious, _, _ = model.sam_mask_decoder(
            image_embeddings=pix, image_pe=model.sam_prompt_encoder.get_dense_pe(), sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=True, repeat_image=False, high_res_features=high_res,
        )
    return masks.clone(), ious[0].double()


def tie_overrides(model, image_size: int, point) -> dict:
    """The IoU-head bias that puts candidates 0 and 1 of `point` SPREAD f16 step either side of CENTER."""
    _, ious = decode(model, image_size, point)
    bias = model.sam_mask_decoder.iou_prediction_head.layers[2].bias.detach().double()
    z = torch.logit(ious) - bias[1:]  # the head's output before its bias, per multimask candidate
    s = f16_step(CENTER)
    target = torch.tensor([CENTER - SPREAD * s, CENTER + SPREAD * s, CENTER - 0.05], dtype=torch.float64)
    new = bias.clone()
    new[1:] = torch.logit(target) - z
    return {IOU_BIAS: [float(np.float32(v)) for v in new.tolist()]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(harness.REPO, "test", "fixtures"))
    args = ap.parse_args(argv)
    harness.set_determinism(1)
    size = cases.SIZE
    point = list(cases.BOY_POINT[0])
    overrides = tie_overrides(harness.build_predictor(cases.CONFIG, size), size, point)
    model = harness.build_predictor(cases.CONFIG, size, overrides)
    low_res, ious = decode(model, size, point)
    v = ious.tolist()
    order = sorted(range(3), key=lambda i: (-v[i], i))
    chosen, runner_up = order[0], order[1]
    f16 = [float(np.float16(x)) for x in v]
    a, b = low_res[0, chosen] > 0, low_res[0, runner_up] > 0
    overlap = int((a & b).sum()) / max(1, int((a | b).sum()))
    step = f16_step(v[chosen])
    gap = v[chosen] - v[runner_up]
    # The case's premises: an f16 rounding ties the two, the first index of the tie is the wrong one.
    assert f16[chosen] == f16[runner_up] and runner_up < chosen, (v, f16)
    assert 0 < gap < step and overlap < 0.9, (gap, step, overlap)
    path = os.path.join(args.out, f"tiny{size}", "near_tie.safetensors")
    meta = cases.base_meta(
        cases.CONFIG, size, overrides,
        case="near_tie",
        note="a first click whose two best IoU predictions are closer than one f16 step: the multimask choice",
        point=point,
        ious=v,
        ious_as_f16=f16,
        chosen=chosen,
        runner_up=runner_up,
        gap=gap,
        f16_step=step,
        candidate_mask_iou=overlap,
        frames_file="samples/bedroom/00000.jpg as the official loader reads it",
        video_height=cases.VIDEO_H,
        video_width=cases.VIDEO_W,
    )
    wr = FixtureWriter(path, meta)
    wr.add("candidates.low_res_masks", low_res, dtype="f32")
    with harness.FrameDir(1) as d:
        r = harness.VideoRecorder(model, wr, d, fill_holes=False)
        r.points(0, 1, points=[point], labels=[1])
    wr.meta["steps"] = r.steps
    wr.save()
    print(f"near tie at {point}: IoU predictions {v} (f16: {f16}), gap {gap:.3e} below the f16 step {step:.3e}; "
          f"official choice {chosen}, runner-up {runner_up}; the candidates' masks overlap at IoU {overlap:.3f}")


if __name__ == "__main__":
    main()
