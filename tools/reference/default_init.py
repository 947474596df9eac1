"""The default-initialisation case: the official sam2.1_hiera_t with torch's own initialisation (no synthetic
weights), saved as an official-format checkpoint, converted by the project's converter and tracked by the
engine (test/video/default_init.test.ts).

1. Checkpoint. `torch.manual_seed(SEED)` immediately before the official `build_sam2_video_predictor`
   (image size 256, the harness's options) draws every parameter with the official modules' own
   initialisers; the object-score head's output bias (`OBJ_SCORE_BIAS`) is then raised by
   `OBJ_SCORE_LIFT`, because the default initialisation scores every object just below zero (absent, all
   masks -1024). The state dict is written with `torch.save({"model": state_dict}, path)`, the way Meta's
   checkpoints are (a zip archive): `weights/checkpoints/default_init_seed<SEED>.pt` (git-ignored, about
   156 MB), or `$SAM2_WEBGPU_DEFAULT_INIT_CKPT`. Every run rebuilds it in memory and compares its bytes with
   the file: a missing file is written, a different one is an error (`--rewrite` replaces it).
2. Reference. The official `SAM2VideoPredictor`, built from that file through the official loader
   (`ckpt_path=`), runs on the first 8 bedroom frames at image size 256 with three objects: the boy clicked
   and the girl boxed on frame 0, the pillow clicked on frame 4; tracking forward from frame 0, then in
   reverse from frame 4. Holes are filled (fill_hole_area=8) with the CPU connected-components stand-in
   (fill_holes.py), as the CLI does by default. The calls and outputs go to
   `test/fixtures/default_init/video.filled.safetensors` (test/fixtures/README.md describes it), with the
   seed, the bias lift, the versions, the checkpoint's sha256 / size and the sha256 of every tensor as
   torch's .float() and .half() bytes (what `convert --dtype f32|f16` must write), and the mask decoder's IoU
   predictions of every computed output (how close each multimask choice was), in its metadata.

Run: tools/reference/.venv/bin/python tools/reference/default_init.py [--checkpoint-only] [--rewrite]
(tools/reference/default_init.sh also runs the test).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from typing import Dict, Tuple

os.environ.setdefault("TQDM_DISABLE", "1")

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import cases  # noqa: E402
import harness  # noqa: E402
from fixture_io import FixtureWriter  # noqa: E402

CONFIG = cases.CONFIG  # sam2.1_hiera_t
SIZE = cases.SIZE  # 256
NUM_FRAMES = cases.VIDEO_FRAMES  # 8
SEED = 1
OBJ_SCORE_BIAS = cases.OBJ_SCORE_BIAS  # sam_mask_decoder.pred_obj_score_head.layers.2.bias
# Raw object scores of this model on the bedroom frames lie between -0.05 and -0.003; +1 puts every one near
# +1, far from the decision at 0, so all three objects are present on every frame in f32 and f16 alike.
OBJ_SCORE_LIFT = 1.0
PILLOW_POINT = [[600.0, 350.0]]  # object 3: the pink pillow right of the girl, clicked on frame 4
PILLOW_FRAME = 4

CHECKPOINT = os.environ.get("SAM2_WEBGPU_DEFAULT_INIT_CKPT") or os.path.join(
    harness.REPO, "weights", "checkpoints", f"default_init_seed{SEED}.pt"
)
OUT = os.path.join(harness.REPO, "test", "fixtures", "default_init", "video.filled.safetensors")


def build_default_init_model(seed: int = SEED):
    """The official video predictor with torch's default initialisation drawn from `seed` (not yet lifted)."""
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(seed)
    return build_sam2_video_predictor(
        harness.CONFIG_FILES[CONFIG], ckpt_path=None, device="cpu", hydra_overrides_extra=[f"++model.image_size={SIZE}"]
    )


def checkpoint_bytes(seed: int = SEED, lift: float = OBJ_SCORE_LIFT, name: str = "default_init") -> Tuple[bytes, dict]:
    """The checkpoint file's bytes (torch.save of {"model": state_dict}, its archive named `name` as torch.save
    names it after the file) and what was lifted."""
    model = build_default_init_model(seed)
    sd = model.state_dict()
    bias = sd[OBJ_SCORE_BIAS]
    before = [float(x) for x in bias]
    with torch.no_grad():
        bias += lift
    info = {"bias_initial": before, "bias_lifted": [float(x) for x in bias], "tensors": len(sd)}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name + ".pt")
        torch.save({"model": sd}, path)
        with open(path, "rb") as f:
            return f.read(), info


def ensure_checkpoint(path: str = CHECKPOINT, rewrite: bool = False) -> dict:
    """Writes the checkpoint when missing; checks an existing one byte for byte against a fresh build."""
    t = time.time()
    name = os.path.splitext(os.path.basename(path))[0]
    data, info = checkpoint_bytes(name=name)
    sha = hashlib.sha256(data).hexdigest()
    if os.path.exists(path) and not rewrite:
        with open(path, "rb") as f:
            have = hashlib.sha256(f.read()).hexdigest()
        if have != sha:
            raise SystemExit(
                f"{path}: sha256 {have}, but seed {SEED} gives {sha} with this torch ({torch.__version__}); "
                "pass --rewrite to replace it"
            )
        state = "up to date"
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        state = "written"
    print(f"checkpoint {os.path.relpath(path, harness.REPO)}: {state}, {len(data)} bytes, sha256 {sha} "
          f"({time.time() - t:.1f}s)")
    return dict(info, sha256=sha, bytes=len(data))


def tensor_digests(state_dict: Dict[str, torch.Tensor]) -> Dict[str, Dict[str, str]]:
    """sha256 (first 16 hex digits) of each tensor's contiguous little-endian bytes as torch's .float() and
    .half() write them: what `convert --dtype f32` / `--dtype f16` must produce."""
    out = {}
    for name, t in state_dict.items():
        t = t.detach().contiguous()
        assert t.is_floating_point(), f"{name}: {t.dtype}"
        out[name] = {
            "f32": hashlib.sha256(t.float().numpy().tobytes()).hexdigest()[:16],
            "f16": hashlib.sha256(t.half().numpy().tobytes()).hexdigest()[:16],
        }
    return out


def record_iou_predictions(model, r: "harness.VideoRecorder") -> Dict[str, list]:
    """Wraps the official frame inference to keep the mask decoder's IoU predictions of every output, under the
    recorder's names (`step{s}.frame{f}.obj{id}`): three values where the multimask choice (argmax) was made,
    one otherwise. With these weights they are all near 0.5, so the choice is a near tie on many frames."""
    ious: Dict[str, list] = {}
    current = {}
    run_frame = model._run_single_frame_inference
    heads = model._forward_sam_heads

    def run(*args, **kwargs):
        state, output_dict = kwargs["inference_state"], kwargs["output_dict"]
        idx = next(i for i, d in state["output_dict_per_obj"].items() if d is output_dict)
        current["key"] = f"step{len(r.steps) - 1}.frame{kwargs['frame_idx']}.obj{state['obj_idx_to_id'][idx]}"
        try:
            return run_frame(*args, **kwargs)
        finally:
            current.pop("key")

    def forward_heads(*args, **kwargs):
        out = heads(*args, **kwargs)
        ious[current["key"]] = [float(x) for x in out[2].reshape(-1)]
        return out

    model._run_single_frame_inference = run
    model._forward_sam_heads = forward_heads
    return ious


def record(path: str, ckpt: dict, out: str = OUT) -> str:
    """Runs the official predictor loaded from the checkpoint file and writes the fixture."""
    from sam2.build_sam import build_sam2_video_predictor

    model = build_sam2_video_predictor(
        harness.CONFIG_FILES[CONFIG], ckpt_path=path, device="cpu", hydra_overrides_extra=[f"++model.image_size={SIZE}"]
    )
    harness.install_clear_obj_non_cond_mem(model)
    harness.install_memory_f32_cast(model)
    sd = torch.load(path, map_location="cpu", weights_only=True)["model"]
    meta = cases.base_meta(
        CONFIG,
        SIZE,
        case="default_init",
        note="three objects: object 1 (boy) clicked and object 2 (girl) boxed on frame 0, object 3 (pillow) clicked "
        "on frame 4; tracking forward from frame 0 (frames 0-7), then in reverse from frame 4 (frames 4-0)",
        num_frames=NUM_FRAMES,
        frames_file="samples/bedroom: the first num_frames JPEGs as the official loader reads them",
        video_height=cases.VIDEO_H,
        video_width=cases.VIDEO_W,
        fill_holes="filled: the official fill_holes_in_mask_scores(fill_hole_area=8) with the CPU connected-components "
        "stand-in",
        predictor_options=[],
        seed=SEED,
        init="torch.manual_seed(seed) immediately before the official build_sam2_video_predictor(config_file, "
        "ckpt_path=None, device='cpu', hydra_overrides_extra=['++model.image_size=256']): every parameter as the "
        "official modules initialise it",
        obj_score_bias={"name": OBJ_SCORE_BIAS, "lift": OBJ_SCORE_LIFT, "initial": ckpt["bias_initial"],
                        "lifted": ckpt["bias_lifted"]},
        checkpoint={
            "file": f"weights/checkpoints/default_init_seed{SEED}.pt (or $SAM2_WEBGPU_DEFAULT_INIT_CKPT)",
            "format": 'torch.save({"model": state_dict}) (zip), as the official checkpoints',
            "sha256": ckpt["sha256"],
            "bytes": ckpt["bytes"],
            "tensors": ckpt["tensors"],
            "tensor_sha256": "meta.tensor_sha256[name].f32 / .f16: first 16 hex digits of the sha256 of the tensor's "
            "contiguous little-endian bytes as torch's .float() / .half()",
        },
        tensor_sha256=tensor_digests(sd),
        video_res_masks="bit-packed video-resolution masks of the forward pass (step 3) only; every recorded output "
        "has its low-res logits, object score and object pointer (F32)",
    )
    meta["weights"] = f"torch default initialisation, seed {SEED}, object-score bias + {OBJ_SCORE_LIFT} (not the synthetic rule)"
    wr = FixtureWriter(out, meta)
    with harness.FrameDir(NUM_FRAMES) as d:
        r = harness.VideoRecorder(model, wr, d, fill_holes=True, video_masks=False)
        meta["iou_predictions"] = record_iou_predictions(model, r)
        r.points(0, 1, points=cases.BOY_POINT, labels=[1])
        r.points(0, 2, box=cases.GIRL_BOX)
        r.points(PILLOW_FRAME, 3, points=PILLOW_POINT, labels=[1])
        r.video_masks = True  # the forward pass: what the CLI writes as mask PNGs
        r.propagate()
        r.video_masks = False
        r.propagate(start_frame_idx=PILLOW_FRAME, reverse=True)
    meta["steps"] = r.steps
    scores = {n: float(v) for n, v in wr.tensors.items() if n.endswith("object_score_logits")}
    absent = [n for n, v in scores.items() if v <= 0]
    print(f"object scores: {min(scores.values()):.4f} .. {max(scores.values()):.4f} over {len(scores)} outputs; "
          f"absent: {absent or 'none'}")
    wr.save()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="The default-initialisation checkpoint and its official reference run.")
    ap.add_argument("--checkpoint-only", action="store_true", help="only write / check the checkpoint")
    ap.add_argument("--rewrite", action="store_true", help="replace a checkpoint that differs from what the seed gives")
    ap.add_argument("--out", default=OUT, help=f"fixture file (default {os.path.relpath(OUT, harness.REPO)})")
    args = ap.parse_args(argv)
    harness.set_determinism(1)
    ckpt = ensure_checkpoint(CHECKPOINT, args.rewrite)
    if args.checkpoint_only:
        return
    t = time.time()
    record(CHECKPOINT, ckpt, args.out)
    print(f"official predictor: {time.time() - t:.1f}s")


if __name__ == "__main__":
    main()
