"""Reference harness: runs Meta's official `sam2` package (imported, never copied) on the CPU with the
synthetic weights, and records what the engine must reproduce.

- `build_predictor(config, image_size)` builds any of the 8 official configs through the official
  `build_sam2_video_predictor` (so with its video-predictor overrides: SAM2VideoPredictor, dynamic multimask
  via stability, binarized masks from clicks for the memory encoder, fill_hole_area=8), with
  `++model.image_size=<n>` when asked, and loads the synthetic weights with a strict `load_state_dict`.
- `VideoRecorder` drives `init_state` / `add_new_points_or_box` / `add_new_mask` / `propagate_in_video` /
  `clear_all_prompts_in_frame` / `remove_object` / `reset_state` and keeps, per call and frame and object, what
  the predictor stored and returned.

Two CPU-only behaviours of the official code are handled here (tools/reference/README.md has the details):
- Memory attention's input cast: without CUDA autocast the official predictor concatenates bf16
  `maskmem_features` with the f32 object pointers and relies on type promotion; when a frame's memory holds no
  object pointer the bf16 memory meets f32 weights and fails ("mat1 and mat2 must have the same dtype").
  `install_memory_f32_cast` casts `memory` and `memory_pos` to f32 at the memory attention's input: the values
  keep their bf16 rounding, and when pointers are present the cast is exactly what promotion did already.
- Hole filling: see fill_holes.py; `VideoRecorder(..., fill_holes=True)` runs the official fill step with a
  CPU connected-components stand-in, `fill_holes=False` leaves the official CPU behaviour (warn and skip).

CLI: `python harness.py --help` (regenerate.sh is the usual entry point).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import types
import warnings
from typing import Any, Dict, List, Optional, Sequence

os.environ.setdefault("TQDM_DISABLE", "1")  # the official predictor draws progress bars

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import fill_holes  # noqa: E402
import synthetic  # noqa: E402
from fixture_io import FixtureWriter  # noqa: E402

REPO = synthetic.REPO
BEDROOM = os.path.join(REPO, "samples", "bedroom")

CONFIG_FILES = synthetic.CONFIG_FILES

# The official loader's normalisation (sam2.utils.misc.load_video_frames defaults).
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


def set_determinism(threads: int = 1) -> None:
    """Same inputs, same bits: fixed seeds, deterministic kernels, a fixed thread count."""
    torch.manual_seed(0)
    np.random.seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    # The official code warns once per process when hole filling is skipped on CPU; keep the logs short.
    warnings.filterwarnings("ignore", message=".*cannot import name '_C'.*")
    warnings.filterwarnings("ignore", message=".*Skipping the post-processing step.*")


def install_memory_f32_cast(model: torch.nn.Module) -> None:
    """Casts memory attention's `memory` / `memory_pos` inputs to f32 (values keep their bf16 rounding)."""

    def cast(_module, args, kwargs):
        for key in ("memory", "memory_pos"):
            value = kwargs.get(key)
            if value is not None and value.dtype != torch.float32:
                kwargs[key] = value.float()
        return args, kwargs

    model.memory_attention.register_forward_pre_hook(cast, with_kwargs=True)


def build_predictor(
    config: str,
    image_size: Optional[int] = None,
    overrides: Optional[synthetic.Overrides] = None,
    hydra_extra: Sequence[str] = (),
):
    """The official SAM2VideoPredictor for `config`, synthetic weights loaded (strict), in eval mode on CPU.
    `hydra_extra`: further predictor options, e.g. "++model.clear_non_cond_mem_around_input=true"."""
    from sam2.build_sam import build_sam2_video_predictor

    extra = [f"++model.image_size={int(image_size)}"] if image_size else []
    extra += list(hydra_extra)
    model = build_sam2_video_predictor(CONFIG_FILES[config], ckpt_path=None, device="cpu", hydra_overrides_extra=extra)
    install_clear_obj_non_cond_mem(model)
    missing, unexpected = model.load_state_dict(synthetic.torch_state_dict(config, overrides), strict=True)
    assert not missing and not unexpected
    model.eval()
    install_memory_f32_cast(model)
    return model


def install_clear_obj_non_cond_mem(model) -> None:
    """sam2 1.1.0's predictor calls `_clear_obj_non_cond_mem_around_input(state, frame_idx, obj_idx)` when
    `clear_non_cond_mem_around_input` is on, but defines only the all-objects `_clear_non_cond_mem_around_input`,
    so the option raises AttributeError. Where the method is missing, this adds its per-object form: drop that
    object's non-conditioning outputs within memory_temporal_stride_for_eval * num_maskmem frames of frame_idx
    (inclusive), exactly the official all-objects helper restricted to one object."""
    if hasattr(model, "_clear_obj_non_cond_mem_around_input"):
        return

    def clear(self, inference_state, frame_idx, obj_idx):
        r = self.memory_temporal_stride_for_eval
        outputs = inference_state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"]
        for t in range(frame_idx - r * self.num_maskmem, frame_idx + r * self.num_maskmem + 1):
            outputs.pop(t, None)

    model._clear_obj_non_cond_mem_around_input = types.MethodType(clear, model)


def frame_paths(num_frames: int, start: int = 0) -> List[str]:
    return [os.path.join(BEDROOM, f"{i:05d}.jpg") for i in range(start, start + num_frames)]


class FrameDir:
    """A temporary folder of the first `num_frames` bedroom JPEGs, named as the official loader expects."""

    def __init__(self, num_frames: int):
        self.num_frames = num_frames
        self.path = tempfile.mkdtemp(prefix="sam2-frames-")
        for i, src in enumerate(frame_paths(num_frames)):
            if not os.path.exists(src):
                raise FileNotFoundError(f"{src} (the bedroom frames live in samples/bedroom)")
            shutil.copyfile(src, os.path.join(self.path, f"{i:05d}.jpg"))

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def resized_frames_u8(num_frames: int, image_size: int) -> torch.Tensor:
    """[N, S, S, 3] uint8: the official loader's PIL resize of each frame, before normalisation."""
    from PIL import Image

    out = []
    for path in frame_paths(num_frames):
        img = Image.open(path)
        out.append(np.array(img.convert("RGB").resize((image_size, image_size))))
    return torch.from_numpy(np.stack(out))


def normalize_u8(frames_u8: torch.Tensor) -> torch.Tensor:
    """What the official loader computes from the resized pixels: f32(u8 / 255) (the division in f64),
    then (x - f32 mean) / f32 std in f32. [N, S, S, 3] uint8 -> [N, 3, S, S] float32."""
    x = torch.from_numpy(frames_u8.numpy() / 255.0).permute(0, 3, 1, 2).to(torch.float32)
    mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
    return (x - mean) / std


class VideoRecorder:
    """Runs official video-predictor calls and stores their results in a FixtureWriter.

    Every call is a *step* s (0, 1, ...). Tensor names: `step{s}.frame{f}.obj{id}.{field}` with fields
    - `pred_masks`          [1, 1, S/4, S/4] f32  low-res mask logits as the predictor stores them
                                                   (after hole filling, when it ran)
    - `video_res_masks.bits` packed bool [H, W]    video-resolution logits > 0, as returned by the call
    - `video_res_masks`     [H, W] f16             the video-resolution logits, only for selected frames
    - `object_score_logits` [1, 1] f32
    - `obj_ptr`             [1, 256] f32
    - `maskmem_features`    [1, 64, S/16, S/16] bf16, when `keep_maskmem` (what later frames attend to)
    For a prompt call, `pred_masks` / `object_score_logits` / `obj_ptr` exist for the prompted object only
    (its temporary output), `video_res_masks*` for every object the call returns. `clear_all_prompts_in_frame`
    and `remove_object` return video-resolution masks only: they get `video_res_masks.bits` for every object
    of every frame they return; `reset_state` returns nothing.

    `video_masks`: True (the bits of every call and every propagated frame), False (none) or "calls+ends"
    (the bits of every call that is not a propagation, and of the last frame of each propagation).
    `propagated_dtype`: "f16" stores the `pred_masks` of propagated frames as F16 (default: the storage policy).
    """

    def __init__(
        self,
        predictor,
        writer: FixtureWriter,
        frames_dir: str,
        fill_holes: bool,
        keep_maskmem: bool = False,
        video_logits_at: Sequence[tuple] = (),
        video_masks: Any = True,
        propagated_dtype: Optional[str] = None,
    ):
        if video_masks not in (True, False, "calls+ends"):
            raise ValueError(f"video_masks must be True, False or 'calls+ends', not {video_masks!r}")
        self.predictor = predictor
        self.writer = writer
        self.fill_holes = fill_holes
        self.keep_maskmem = keep_maskmem
        self.video_logits_at = set(tuple(x) for x in video_logits_at)  # {(step, frame)}
        self.video_masks = video_masks
        self.propagated_dtype = propagated_dtype
        self.steps: List[Dict[str, Any]] = []
        with fill_holes_patch(fill_holes):
            self.state = predictor.init_state(video_path=frames_dir)

    # -- prompts -------------------------------------------------------------------------------------------
    def points(self, frame: int, obj_id: int, points=None, labels=None, box=None, clear_old_points=True) -> int:
        step = self._begin(
            {
                "kind": "box" if box is not None and points is None else ("points+box" if box is not None else "points"),
                "frame": frame,
                "obj_id": obj_id,
                "points": points,
                "labels": labels,
                "box": box,
                "clear_old_points": clear_old_points,
                "normalize_coords": True,
            }
        )
        with fill_holes_patch(self.fill_holes):
            f, obj_ids, video_res = self.predictor.add_new_points_or_box(
                self.state, frame_idx=frame, obj_id=obj_id, points=points, labels=labels, box=box,
                clear_old_points=clear_old_points,
            )
        self._record_prompt(step, f, obj_id, obj_ids, video_res)
        return step

    def mask(self, frame: int, obj_id: int, mask: torch.Tensor, mask_name: str) -> int:
        step = self._begin({"kind": "mask", "frame": frame, "obj_id": obj_id, "mask": mask_name})
        with fill_holes_patch(self.fill_holes):
            f, obj_ids, video_res = self.predictor.add_new_mask(self.state, frame_idx=frame, obj_id=obj_id, mask=mask)
        self._record_prompt(step, f, obj_id, obj_ids, video_res)
        return step

    # -- tracking ------------------------------------------------------------------------------------------
    def propagate(self, start_frame_idx=None, max_frame_num_to_track=None, reverse=False, on_frame=None) -> int:
        step = self._begin(
            {
                "kind": "propagate",
                "start_frame_idx": start_frame_idx,
                "max_frame_num_to_track": max_frame_num_to_track,
                "reverse": reverse,
            }
        )
        frames = []
        every_frame = self.video_masks is True
        last = None  # (frame, obj_ids, video_res) of the last frame, for video_masks == "calls+ends"
        with fill_holes_patch(self.fill_holes):
            for f, obj_ids, video_res in self.predictor.propagate_in_video(
                self.state, start_frame_idx=start_frame_idx, max_frame_num_to_track=max_frame_num_to_track,
                reverse=reverse,
            ):
                frames.append(int(f))
                for k, obj_id in enumerate(obj_ids):
                    out = self._stored_output(k, f)
                    self._record_out(step, f, obj_id, out, pred_dtype=self.propagated_dtype)
                    if every_frame:
                        self._record_video_res(step, f, obj_id, video_res[k, 0])
                last = (int(f), list(obj_ids), video_res.clone())
                if on_frame is not None:
                    on_frame(f)
        if self.video_masks == "calls+ends" and last is not None:
            f, obj_ids, video_res = last
            for k, obj_id in enumerate(obj_ids):
                self._record_video_res(step, f, obj_id, video_res[k, 0])
        self.steps[step]["frames"] = frames
        self.steps[step]["obj_ids"] = [int(x) for x in self.state["obj_ids"]]
        return step

    # -- editing -------------------------------------------------------------------------------------------
    def clear_prompts(self, frame: int, obj_id: int) -> int:
        """clear_all_prompts_in_frame(state, frame, obj_id): the consolidated masks of every object on `frame`."""
        step = self._begin({"kind": "clear_all_prompts_in_frame", "frame": frame, "obj_id": obj_id})
        with fill_holes_patch(self.fill_holes):
            f, obj_ids, video_res = self.predictor.clear_all_prompts_in_frame(self.state, frame, obj_id)
        self.steps[step]["obj_ids"] = [int(x) for x in obj_ids]
        for k, oid in enumerate(obj_ids):
            self._record_video_res(step, int(f), oid, video_res[k, 0])
        return step

    def remove_object(self, obj_id: int, strict: bool = False) -> int:
        """remove_object(state, obj_id, strict): the remaining object ids and, per frame where the object had
        prompts (`frames`, in the order the call returned them), the consolidated masks of the others."""
        step = self._begin({"kind": "remove_object", "obj_id": obj_id, "strict": strict})
        with fill_holes_patch(self.fill_holes):
            obj_ids, updated = self.predictor.remove_object(self.state, obj_id, strict=strict)
        self.steps[step]["obj_ids"] = [int(x) for x in obj_ids]
        self.steps[step]["frames"] = [int(f) for f, _ in updated]
        for f, video_res in updated:
            for k, oid in enumerate(obj_ids):
                self._record_video_res(step, int(f), oid, video_res[k, 0])
        return step

    def reset(self) -> int:
        """reset_state(state): every object, prompt and output is dropped."""
        step = self._begin({"kind": "reset_state"})
        self.predictor.reset_state(self.state)
        assert not self.state["obj_ids"] and not self.state["output_dict_per_obj"]
        self.steps[step]["obj_ids"] = []
        return step

    # -- internals -----------------------------------------------------------------------------------------
    def _begin(self, desc: Dict[str, Any]) -> int:
        desc = {k: _jsonable(v) for k, v in desc.items()}
        desc["step"] = len(self.steps)
        self.steps.append(desc)
        return desc["step"]

    def _stored_output(self, obj_idx: int, frame: int) -> Dict[str, Any]:
        per_obj = self.state["output_dict_per_obj"][obj_idx]
        out = per_obj["cond_frame_outputs"].get(frame)
        if out is None:
            out = per_obj["non_cond_frame_outputs"].get(frame)
        assert out is not None, f"no stored output for object index {obj_idx} on frame {frame}"
        return out

    def _record_prompt(self, step: int, frame: int, obj_id: int, obj_ids, video_res) -> None:
        obj_idx = self.state["obj_id_to_idx"][obj_id]
        temp = self.state["temp_output_dict_per_obj"][obj_idx]
        out = temp["cond_frame_outputs"].get(frame)
        storage = "cond_frame_outputs"
        if out is None:
            out = temp["non_cond_frame_outputs"][frame]
            storage = "non_cond_frame_outputs"
        self.steps[step]["storage"] = storage
        self.steps[step]["obj_ids"] = [int(x) for x in obj_ids]
        self._record_out(step, frame, obj_id, out)
        for k, oid in enumerate(obj_ids):
            self._record_video_res(step, frame, oid, video_res[k, 0])

    def _record_out(self, step: int, frame: int, obj_id: int, out: Dict[str, Any], pred_dtype: Optional[str] = None) -> None:
        p = f"step{step}.frame{frame}.obj{obj_id}"
        self.writer.add(f"{p}.pred_masks", out["pred_masks"].float(), dtype=pred_dtype)
        self.writer.add(f"{p}.object_score_logits", out["object_score_logits"].float())
        self.writer.add(f"{p}.obj_ptr", out["obj_ptr"].float())
        if self.keep_maskmem and out.get("maskmem_features") is not None:
            assert out["maskmem_features"].dtype == torch.bfloat16
            self.writer.add(f"{p}.maskmem_features", out["maskmem_features"], dtype="bf16")

    def _record_video_res(self, step: int, frame: int, obj_id: int, logits: torch.Tensor) -> None:
        p = f"step{step}.frame{frame}.obj{obj_id}"
        if self.video_masks is not False:
            self.writer.add_mask(f"{p}.video_res_masks.bits", logits > 0)
        if (step, frame) in self.video_logits_at:
            # Large (960×540) and checked only as the sign of each pixel: F16.
            self.writer.add(f"{p}.video_res_masks", logits.float(), dtype="f16")


def fill_holes_patch(enabled: bool):
    return fill_holes.patched(enabled)


def _jsonable(v):
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def main(argv: Optional[Sequence[str]] = None) -> None:
    import cases

    ap = argparse.ArgumentParser(description="Regenerate the sam2-webgpu reference fixtures from the official sam2.")
    ap.add_argument("--out", default=os.path.join(REPO, "test", "fixtures"), help="fixture root (default test/fixtures)")
    ap.add_argument("--only", nargs="*", default=None,
                    help=f"only these groups, without deleting anything first: {' '.join(cases.GROUPS)}")
    ap.add_argument("--image-size", type=int, default=cases.SIZE,
                    help="model input size of the tiny / configs fixtures (default 256, the committed one; "
                    "other sizes go to tiny<size> / configs<size>, e.g. 512)")
    ap.add_argument("--full", action="store_true", help="also the 1024-pixel tiny case (slow, not committed)")
    ap.add_argument("--no-checksums", action="store_true", help="skip weights/checksums/*.json")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (fixtures are generated with 1)")
    ap.add_argument("--video-case", nargs="+", default=None, metavar="CASE",
                    help=f"with the video group: only these cases ({' '.join(c.name for c in cases.VIDEO_CASES)})")
    args = ap.parse_args(argv)
    unknown = set(args.only or ()) - set(cases.GROUPS)
    if unknown:
        ap.error(f"unknown group(s) {' '.join(sorted(unknown))}; groups: {' '.join(cases.GROUPS)}")
    if args.video_case is not None and args.only is None:
        ap.error("--video-case goes with --only video (a complete run writes every case)")
    if args.image_size % 16 or args.image_size < 64:
        ap.error("--image-size must be a multiple of 16, at least 64")
    set_determinism(args.threads)
    if args.only is None:
        # a complete run starts from scratch, so that no stale file survives
        for d in cases.output_dirs(args.out, args.image_size):
            shutil.rmtree(d, ignore_errors=True)
        if args.full:
            shutil.rmtree(os.path.join(args.out, "full", "tiny1024"), ignore_errors=True)
    if not args.no_checksums and (args.only is None or "checksums" in args.only):
        synthetic.write_checksums()
    cases.run(args.out, args.only, args.full, args.image_size, args.video_case)


if __name__ == "__main__":
    main()
