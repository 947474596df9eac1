"""Reference for the engine's ImagePredictor: the official SAM2ImagePredictor (sam2.1_hiera_t, image size 256,
the synthetic weights of weights/README.md) on samples/images/truck.jpg with the prompts of the official
image-predictor notebook, written to test/model/data/image_predictor_truck256.safetensors.

The model is built as `build_sam2` builds it (with its postprocessing overrides: dynamic multimask via
stability, delta 0.05, threshold 0.98). One adjustment, needed at any image size but 1024: the predictor
hard-codes the backbone feature sizes of a 1024 input (`_bb_feat_sizes`), so they are set from image_size.
Holes and sprinkles are not filled (SAM2ImagePredictor's defaults, max_hole_area = max_sprinkle_area = 0).

Recorded:
- `input`: the official transform's output [1, 3, 256, 256] (ToTensor, torchvision Resize, Normalize);
- `image_embed` [1, 256, 16, 16], `high_res_feats.0` [1, 32, 64, 64], `high_res_feats.1` [1, 64, 32, 32]:
  the predictor's cached features (no_mem_embed added to the lowest-resolution level);
- `transform.{crop}.pixels` (uint8 RGB crops of the decoded image: `large` 150 x 100, `small` 40 x 30) and
  `transform.{crop}.output`: the official SAM2Transforms at resolution 64 on them (downscaling and upscaling
  through torchvision's antialiased bilinear Resize), to test the preprocessing apart from any JPEG decoder;
- per single-mask case, `stability` in the metadata: per prompt, the stability score of mask token 0 and its
  two areas (logits > 0.05, logits > -0.05) at 4h x 4w, i.e. how close the dynamic fallback was to flipping;
- per case: `{case}.iou_predictions`, `{case}.low_res_masks` (predict()'s outputs, squeezed as it returns
  them) and, for some cases, `{case}.masks.bits` (the boolean masks at 1800 x 1200, bit-packed), plus
  `{case}.unnorm_coords` / `{case}.unnorm_box` (the prompts in model-input pixels).

Written by `regenerate.sh` (group `image_predictor`), or alone:
tools/reference/.venv/bin/python tools/reference/image_predictor_reference.py [output path]
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import synthetic  # noqa: E402
from fixture_io import FixtureWriter  # noqa: E402

CONFIG = "sam2.1_hiera_t"
SIZE = 256
TRUCK = os.path.join(synthetic.REPO, "samples", "images", "truck.jpg")
OUT = os.path.join(synthetic.REPO, "test", "model", "data", "image_predictor_truck256.safetensors")

POINT = [[500.0, 375.0]]
BOX = [425.0, 600.0, 700.0, 875.0]
BOXES = [[75.0, 275.0, 1725.0, 850.0], [425.0, 600.0, 700.0, 875.0], [1375.0, 550.0, 1650.0, 800.0],
         [1240.0, 675.0, 1400.0, 750.0]]


def build():
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model = build_sam2(harness.CONFIG_FILES[CONFIG], ckpt_path=None, device="cpu",
                       hydra_overrides_extra=[f"++model.image_size={SIZE}"])
    missing, unexpected = model.load_state_dict(synthetic.torch_state_dict(CONFIG), strict=True)
    assert not missing and not unexpected
    model.eval()
    predictor = SAM2ImagePredictor(model)
    predictor._bb_feat_sizes = [(SIZE // 4, SIZE // 4), (SIZE // 8, SIZE // 8), (SIZE // 16, SIZE // 16)]
    return model, predictor


def write(path: str = OUT) -> str:
    from PIL import Image

    harness.set_determinism(1)
    model, predictor = build()
    image = np.array(Image.open(TRUCK).convert("RGB"))
    h, w = image.shape[:2]

    seen = {}
    original = model.forward_image

    def forward_image(x):
        seen["input"] = x.clone()
        return original(x)

    model.forward_image = forward_image
    predictor.set_image(image)
    model.forward_image = original

    cases = {}
    wr = FixtureWriter(path, {
        "config": CONFIG,
        "config_file": harness.CONFIG_FILES[CONFIG],
        "image_size": SIZE,
        "weights": "synthetic v1 (weights/README.md)",
        "image": "samples/images/truck.jpg",
        "orig_hw": [h, w],
        "builder": "build_sam2 (apply_postprocessing: dynamic multimask via stability 0.05 / 0.98), "
                   "_bb_feat_sizes set for the image size",
        "predictor": "SAM2ImagePredictor(mask_threshold=0, max_hole_area=0, max_sprinkle_area=0)",
        "cases": cases,
    })
    wr.add("input", seen["input"], role="input")
    from sam2.utils.transforms import SAM2Transforms

    small_transform = SAM2Transforms(resolution=64, mask_threshold=0.0)
    for crop, (x0, y0, cw, ch) in {"large": (400, 550, 150, 100), "small": (500, 700, 40, 30)}.items():
        pixels = np.ascontiguousarray(image[y0:y0 + ch, x0:x0 + cw])
        wr.add(f"transform.{crop}.pixels", torch.from_numpy(pixels))
        wr.add(f"transform.{crop}.output", small_transform(pixels), role="input")
    wr.add("image_embed", predictor._features["image_embed"], role="input")
    for i, f in enumerate(predictor._features["high_res_feats"]):
        wr.add(f"high_res_feats.{i}", f, role="input")

    dec = model.sam_mask_decoder
    stability = {}
    predict_masks = dec.predict_masks

    def recording_predict_masks(**kw):
        out = predict_masks(**kw)
        m = out[0][:, 0].flatten(1)
        d = dec.dynamic_multimask_stability_delta
        ai = (m > d).sum(-1)
        au = (m > -d).sum(-1)
        score = dec._get_stability_scores(out[0][:, 0:1]).flatten()
        stability["last"] = [{"score": float(s), "area_i": int(i), "area_u": int(u)} for s, i, u in zip(score, ai, au)]
        return out

    dec.predict_masks = recording_predict_masks

    def run(name, full_res_bits, **kw):
        masks, iou, low = predictor.predict(**kw)
        mi, uc, lab, ub = predictor._prep_prompts(kw.get("point_coords"), kw.get("point_labels"), kw.get("box"),
                                                  kw.get("mask_input"), True)
        desc = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in kw.items() if k != "mask_input"}
        if "mask_input" in kw:
            desc["mask_input"] = "point.low_res_masks[argmax(point.iou_predictions)][None]"
        if not kw.get("multimask_output", True):
            desc["stability"] = stability["last"]
        cases[name] = desc
        wr.add(f"{name}.iou_predictions", torch.from_numpy(iou))
        wr.add(f"{name}.low_res_masks", torch.from_numpy(low))
        if uc is not None:
            wr.add(f"{name}.unnorm_coords", uc)
        if ub is not None:
            wr.add(f"{name}.unnorm_box", ub)
        if full_res_bits:
            m = torch.from_numpy(masks)
            if m.dim() == 4:  # batched: keep the first `full_res_bits` prompts
                m = m[: int(full_res_bits)]
            wr.add_mask(f"{name}.masks.bits", m.bool())
        return masks, iou, low

    _, iou, low = run("point", True, point_coords=np.array(POINT), point_labels=np.array([1]), multimask_output=True)
    run("points_pos_neg", False, point_coords=np.array(POINT + [[1125.0, 625.0]]), point_labels=np.array([1, 0]),
        multimask_output=False)
    run("box", True, box=np.array(BOX), multimask_output=False)
    run("box_point", False, point_coords=np.array([[575.0, 750.0]]), point_labels=np.array([0]), box=np.array(BOX),
        multimask_output=False)
    best = low[np.argmax(iou)][None]
    run("mask_input", True, point_coords=np.array(POINT + [[1125.0, 625.0]]), point_labels=np.array([1, 1]),
        mask_input=best, multimask_output=False)
    run("boxes", 2, box=np.array(BOXES), multimask_output=False)
    # multimask_output=False on a single click: the dynamic fallback's branch on the image predictor
    run("point_single", False, point_coords=np.array(POINT), point_labels=np.array([1]), multimask_output=False)
    wr.save()
    return path


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else OUT)
