"""The reference fixtures: which official calls run, on what, and under which tensor names.

test/fixtures/README.md documents every file and name; keep the two in sync. Everything here runs the
official sam2 package (through harness.py) on the CPU with the synthetic weights of weights/README.md.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Optional, Union

import torch

import harness
from fixture_io import FixtureWriter

CONFIG = "sam2.1_hiera_t"
SIZE = 256  # reduced image size of the committed fixtures
VIDEO_FRAMES = 8  # frames of the ordinary video cases
LONG_FRAMES = 17  # frame 16 is the first with a full memory bank: 7 memories and 16 object pointers
SESSION_FRAMES = 30  # the `session` case: tracking well past frame 16, and the editing calls
FRAMES = SESSION_FRAMES  # the frames of the longest case
VIDEO_H, VIDEO_W = 540, 960

# Prompts, in video pixels (x, y) of the 960x540 bedroom frames. Object 1 is the boy on the left (the
# official notebook's click), object 2 the girl in the middle.
BOY_POINT = [[210.0, 350.0]]
BOY_BOX = [140.0, 130.0, 295.0, 410.0]
GIRL_POINT = [[390.0, 220.0]]
GIRL_BOX = [300.0, 0.0, 520.0, 400.0]
NEG_POINT = [[400.0, 250.0]]  # on the girl: a negative click for object 1
# Mask prompt: the ellipse ((x - cx) / rx)^2 + ((y - cy) / ry)^2 <= 1 over pixel indices, in integers.
BOY_ELLIPSE = {"cx": 220, "cy": 270, "rx": 70, "ry": 140}

# Per-case override of the object-score head's output bias (weights/README.md, "Overrides"): with it every
# decoder-predicted object score is negative (object absent), while a mask prompt still marks its frame
# present (+10), so one run crosses both branches of the gating.
OBJ_SCORE_BIAS = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
ABSENT_OVERRIDES = {OBJ_SCORE_BIAS: [-3.0]}


def ellipse_mask(cx: int, cy: int, rx: int, ry: int, h: int = VIDEO_H, w: int = VIDEO_W) -> torch.Tensor:
    ys = torch.arange(h, dtype=torch.int64)[:, None]
    xs = torch.arange(w, dtype=torch.int64)[None, :]
    return (xs - cx) ** 2 * ry * ry + (ys - cy) ** 2 * rx * rx <= rx * rx * ry * ry


def base_meta(config: str = CONFIG, image_size: int = SIZE, overrides: Optional[dict] = None, **extra) -> dict:
    meta = {
        "config": config,
        "config_file": harness.CONFIG_FILES[config],
        "image_size": image_size,
        "weights": "synthetic v1 (weights/README.md)",
        "overrides": overrides or {},
        "sam2_version": _sam2_version(),
        "torch_version": torch.__version__,
    }
    meta.update(extra)
    return meta


def _sam2_version() -> str:
    from importlib.metadata import version

    return version("sam2")


def to_model_px(points, image_size: int) -> torch.Tensor:
    """Video pixels -> model-input pixels, exactly as add_new_points_or_box computes them (f32)."""
    p = torch.tensor(points, dtype=torch.float32)
    return (p / torch.tensor([VIDEO_W, VIDEO_H])) * image_size


# =============================================================================================== frames
def frames_fixture(root: str, image_size: int = SIZE, num_frames: int = FRAMES, name: str = "frames",
                   write: bool = True) -> Optional[str]:
    """The official loader's resized uint8 pixels of the first frames (its float input is a pure function
    of them, see harness.normalize_u8), checked bit-for-bit against the official loader. `write=False`: the
    check only (at the committed size the tests derive these bytes from the JPEGs themselves, verified by the
    sha256 of PIL's resize in test/fixtures/decode/pil_decode.json)."""
    from sam2.utils.misc import load_video_frames

    u8 = harness.resized_frames_u8(num_frames, image_size)
    with harness.FrameDir(num_frames) as d:
        images, h, w = load_video_frames(d, image_size, offload_video_to_cpu=True, compute_device=torch.device("cpu"))
    assert (h, w) == (VIDEO_H, VIDEO_W)
    mine = harness.normalize_u8(u8)
    assert torch.equal(mine, images), "normalize_u8 no longer matches the official loader"
    if not write:
        return None
    path = os.path.join(root, f"{name}.safetensors")
    wr = FixtureWriter(
        path,
        {
            "image_size": image_size,
            "num_frames": num_frames,
            "source": [f"samples/bedroom/{i:05d}.jpg" for i in range(num_frames)],
            "video_height": VIDEO_H,
            "video_width": VIDEO_W,
            "resize": "PIL Image.convert('RGB').resize((S, S)) (bicubic), as sam2.utils.misc._load_img_as_tensor",
            "normalize": "x = f32(u8 / 255 computed in f64); (x - f32(mean)) / f32(std) in f32, per channel",
            "img_mean": list(harness.IMG_MEAN),
            "img_std": list(harness.IMG_STD),
        },
    )
    wr.add("frames_u8", u8)
    wr.save()
    return path


# ======================================================================================== image encoder
def image_encoder_fixture(root: str, image_size: int = SIZE, config: str = CONFIG) -> str:
    model = harness.build_predictor(config, image_size)
    x = harness.normalize_u8(harness.resized_frames_u8(1, image_size))
    enc = model.image_encoder
    trunk = enc.trunk
    rec: Dict[str, torch.Tensor] = {}
    hooks = [trunk.patch_embed.register_forward_hook(lambda m, i, o: rec.__setitem__("patch_embed", o.clone()))]
    for b, blk in enumerate(trunk.blocks):
        hooks.append(blk.register_forward_hook(lambda m, i, o, b=b: rec.__setitem__(f"blocks.{b}", o.clone())))

    def neck_hook(m, i, o):
        outs, pos = o
        for k, t in enumerate(outs):
            rec[f"neck.out.{k}"] = t.clone()
        for k, t in enumerate(pos):
            rec[f"neck.pos.{k}"] = t.clone()

    hooks.append(enc.neck.register_forward_hook(neck_hook))
    with torch.inference_mode():
        backbone_out = model.forward_image(x)
        hw = rec["patch_embed"].shape[1:3]
        pos_embed = trunk._get_pos_embed(hw)
    for h in hooks:
        h.remove()

    path = os.path.join(root, "image_encoder.safetensors")
    wr = FixtureWriter(
        path,
        base_meta(
            config,
            image_size,
            frame="samples/bedroom/00000.jpg",
            stage_ends=list(trunk.stage_ends),
            scalp=enc.scalp,
            layouts={
                "image_encoder.input": "NCHW",
                "image_encoder.trunk.patch_embed": "NHWC",
                "image_encoder.trunk.pos_embed.resized": "NHWC",
                "image_encoder.trunk.blocks.*": "NHWC",
                "image_encoder.neck.*": "NCHW",
                "sam_mask_decoder.conv_s*": "NCHW",
            },
        ),
    )
    wr.add("image_encoder.input", x, role="input")
    # The two largest, F16 (the fixture budget): the blocks after them are F32 and see their errors.
    wr.add("image_encoder.trunk.patch_embed", rec["patch_embed"], dtype="f16")
    wr.add("image_encoder.trunk.pos_embed.resized", pos_embed, dtype="f16")
    for b in range(len(trunk.blocks)):
        wr.add(f"image_encoder.trunk.blocks.{b}", rec[f"blocks.{b}"])
    # Neck level 0 (stride 4, 1M values) is only consumed through conv_s0, whose output is stored; the sine
    # position encodings of levels 0 / 1 are never consumed. Levels 2 / 3 check the same code paths.
    for k in range(len(enc.neck.convs)):
        if k >= 1:
            wr.add(f"image_encoder.neck.out.{k}", rec[f"neck.out.{k}"])
        if k >= 2:
            wr.add(f"image_encoder.neck.pos.{k}", rec[f"neck.pos.{k}"])
    # forward_image replaced backbone_fpn[0] / [1] by the decoder's conv_s0 / conv_s1 projections.
    wr.add("sam_mask_decoder.conv_s0", backbone_out["backbone_fpn"][0])
    wr.add("sam_mask_decoder.conv_s1", backbone_out["backbone_fpn"][1])
    assert torch.equal(backbone_out["vision_features"], rec["neck.out.2"])
    wr.save()
    return path


def frame0_features(model, image_size: int):
    """Frame 0 as the predictor sees it on an initial conditioning frame: the SAM-head inputs."""
    x = harness.normalize_u8(harness.resized_frames_u8(1, image_size))
    with torch.inference_mode():
        backbone_out = model.forward_image(x)
        _, feats, pos, sizes = model._prepare_backbone_features(backbone_out)
        h, w = sizes[-1]
        # directly_add_no_mem_embed: initial conditioning frames skip memory attention
        pix = (feats[-1] + model.no_mem_embed).permute(1, 2, 0).view(1, model.hidden_dim, h, w)
        high_res = [x.permute(1, 2, 0).view(1, x.size(2), *s) for x, s in zip(feats[:-1], sizes[:-1])]
    return pix, high_res


# ======================================================================================= prompt encoder
def prompt_cases(image_size: int) -> Dict[str, dict]:
    """Prompt-encoder inputs in model-input pixels (as the predictor passes them) and their labels."""
    pad = {"coords": torch.zeros(1, 1, 2), "labels": -torch.ones(1, 1, dtype=torch.int32)}
    yy, xx = torch.meshgrid(torch.arange(image_size // 4, dtype=torch.float32),
                            torch.arange(image_size // 4, dtype=torch.float32), indexing="ij")
    q = image_size // 4
    # a smooth low-res logit blob (an ellipse's signed "distance"), clamped as the predictor clamps logits
    blob = (6.0 - ((xx - 0.23 * q) / (0.07 * q)) ** 2 - ((yy - 0.5 * q) / (0.25 * q)) ** 2).clamp(-32.0, 32.0)
    return {
        "points": {
            "coords": to_model_px(BOY_POINT + NEG_POINT + [[600.0, 300.0]], image_size)[None],
            "labels": torch.tensor([[1, 0, -1]], dtype=torch.int32),
        },
        "box": {
            "coords": to_model_px([BOY_BOX[:2], BOY_BOX[2:]], image_size)[None],
            "labels": torch.tensor([[2, 3]], dtype=torch.int32),
        },
        "box_point": {
            "coords": to_model_px([BOY_BOX[:2], BOY_BOX[2:]] + BOY_POINT, image_size)[None],
            "labels": torch.tensor([[2, 3, 1]], dtype=torch.int32),
        },
        "none": dict(pad),
        "mask": dict(pad, masks=blob[None, None].contiguous()),
    }


def prompt_encoder_fixture(root: str, image_size: int = SIZE, config: str = CONFIG) -> str:
    model = harness.build_predictor(config, image_size)
    pe = model.sam_prompt_encoder
    path = os.path.join(root, "prompt_encoder.safetensors")
    cases = prompt_cases(image_size)
    wr = FixtureWriter(
        path,
        base_meta(
            config,
            image_size,
            cases=list(cases),
            call="sam_prompt_encoder(points=(point_coords, point_labels), boxes=None, masks=masks or None)",
            note="boxes travel as points with labels 2 / 3, as the video predictor passes them; with boxes=None "
            "the encoder appends one padding point (label -1) at (0, 0)",
        ),
    )
    with torch.inference_mode():
        wr.add("sam_prompt_encoder.get_dense_pe", pe.get_dense_pe())
        for name, c in cases.items():
            sparse, dense = pe(points=(c["coords"], c["labels"]), boxes=None, masks=c.get("masks"))
            wr.add(f"{name}.point_coords", c["coords"], role="input")
            wr.add(f"{name}.point_labels", c["labels"])
            if "masks" in c:
                wr.add(f"{name}.masks", c["masks"], role="input")
            wr.add(f"{name}.sparse_embeddings", sparse)
            if name in ("points", "mask"):  # without a mask every case gets the same no_mask_embed broadcast
                wr.add(f"{name}.dense_embeddings", dense)
    wr.save()
    return path


# ========================================================================================= mask decoder
def mask_decoder_fixture(root: str, image_size: int = SIZE, config: str = CONFIG) -> str:
    model = harness.build_predictor(config, image_size)
    pe, dec = model.sam_prompt_encoder, model.sam_mask_decoder
    pix, high_res = frame0_features(model, image_size)
    prompts = prompt_cases(image_size)
    cases = {
        "point": {"coords": to_model_px(BOY_POINT, image_size)[None], "labels": torch.tensor([[1]], dtype=torch.int32)},
        "points_pos_neg": {
            "coords": to_model_px(BOY_POINT + NEG_POINT, image_size)[None],
            "labels": torch.tensor([[1, 0]], dtype=torch.int32),
        },
        "box": prompts["box"],
        "mask": prompts["mask"],
    }
    path = os.path.join(root, "mask_decoder.safetensors")
    meta = base_meta(
        config,
        image_size,
        frame="samples/bedroom/00000.jpg",
        inputs="image_embeddings = frame-0 top-level features + no_mem_embed (an initial conditioning frame), "
        "image_pe = sam_prompt_encoder.get_dense_pe(), high_res_features = conv_s0 / conv_s1 outputs",
        stability={"delta": dec.dynamic_multimask_stability_delta, "thresh": dec.dynamic_multimask_stability_thresh},
        cases={},
    )
    wr = FixtureWriter(path, meta)
    wr.add("image_embeddings", pix, role="input")
    wr.add("image_pe", pe.get_dense_pe(), role="input")
    wr.add("high_res_features.0", high_res[0], role="input")
    wr.add("high_res_features.1", high_res[1], role="input")
    rec: Dict[str, torch.Tensor] = {}
    def transformer_hook(m, i, o):  # a forward hook must return None to leave the output alone
        rec["hs"], rec["keys"] = o[0].clone(), o[1].clone()

    tr_hook = dec.transformer.register_forward_hook(transformer_hook)
    up_hook = dec.output_upscaling[4].register_forward_hook(lambda m, i, o: rec.__setitem__("up", o.clone()))
    with torch.inference_mode():
        for name, c in cases.items():
            sparse, dense = pe(points=(c["coords"], c["labels"]), boxes=None, masks=c.get("masks"))
            wr.add(f"{name}.point_coords", c["coords"], role="input")
            wr.add(f"{name}.point_labels", c["labels"])
            wr.add(f"{name}.sparse_prompt_embeddings", sparse, role="input")
            if "masks" in c:
                wr.add(f"{name}.masks", c["masks"], role="input")
                wr.add(f"{name}.dense_prompt_embeddings", dense, role="input")
            elif "dense_prompt_embeddings.no_mask" not in wr.tensors:
                wr.add("dense_prompt_embeddings.no_mask", dense, role="input")
            args = dict(image_embeddings=pix, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
                        dense_prompt_embeddings=dense, repeat_image=False, high_res_features=high_res)
            masks, iou, tokens, score = dec.predict_masks(**args)
            wr.add(f"{name}.predict_masks.masks", masks)
            wr.add(f"{name}.predict_masks.iou_pred", iou)
            wr.add(f"{name}.predict_masks.mask_tokens_out", tokens)
            wr.add(f"{name}.predict_masks.object_score_logits", score)
            if name == "point":
                wr.add("point.transformer.hs", rec["hs"])
                wr.add("point.transformer.keys", rec["keys"])
                wr.add("point.upscaled_embedding", rec["up"])
            del args["repeat_image"]
            for multi in (True, False):
                m, i, t, s = dec(**args, multimask_output=multi, repeat_image=False)
                tag = "multimask" if multi else "singlemask"
                wr.add(f"{name}.{tag}.masks", m)
                wr.add(f"{name}.{tag}.iou_pred", i)
                wr.add(f"{name}.{tag}.sam_tokens_out", t)
                wr.add(f"{name}.{tag}.object_score_logits", s)
            stab = float(dec._get_stability_scores(masks[:, 0:1])[0, 0])
            meta["cases"][name] = {
                "num_points": int(c["labels"].shape[1]),
                "singlemask_stability_score": stab,
                "singlemask_fell_back_to_multimask": bool(stab < dec.dynamic_multimask_stability_thresh),
                "best_multimask_index": int(torch.argmax(iou[0, 1:])),
                "object_score": float(score[0, 0]),
            }
    tr_hook.remove()
    up_hook.remove()
    wr.save()
    return path


# ======================================================================================== video cases
class VideoCase:
    """A scripted session of official video-predictor calls. `video_masks`: store the video-resolution masks
    (bit-packed) of every call (True), or of every call but propagations and of the last frame of each
    propagation ("calls+ends"), in the `.nofill` file; `video_logits_at`: (step, frame) pairs whose
    video-resolution logits are also stored (F16); `keep_maskmem`: store every frame's bf16 maskmem_features;
    `fills`: the hole-filling variants written (False = `.nofill`, True = `.filled`); `propagated_dtype`: "f16"
    stores the low-res logits of propagated frames as F16."""

    def __init__(self, name: str, run: Callable, num_frames: int = VIDEO_FRAMES, overrides=None, note: str = "",
                 keep_maskmem=False, video_logits_at=(), video_masks=False, hydra_extra=(), fills=(False, True),
                 propagated_dtype=None):
        self.name, self.run, self.num_frames = name, run, num_frames
        self.hydra_extra = tuple(hydra_extra)
        self.overrides, self.note = overrides or {}, note
        self.keep_maskmem, self.video_logits_at = keep_maskmem, video_logits_at
        self.video_masks = video_masks
        self.fills = tuple(fills)
        self.propagated_dtype = propagated_dtype


def _case_point(r):
    r.points(0, 1, points=BOY_POINT, labels=[1])
    r.propagate()


def _case_points_pos_neg(r):
    r.points(0, 1, points=BOY_POINT + NEG_POINT, labels=[1, 0])
    r.propagate()


def _case_box(r):
    r.points(0, 1, box=BOY_BOX)
    r.propagate()


def _case_mask(r):
    r.mask(0, 1, ellipse_mask(**BOY_ELLIPSE), "input.mask")
    r.propagate()


def _case_two_objects(r):
    r.points(0, 1, points=BOY_POINT, labels=[1])
    r.points(0, 2, box=GIRL_BOX)
    r.propagate()


def _case_late_object(r):
    r.points(0, 1, points=BOY_POINT, labels=[1])
    r.points(3, 2, points=GIRL_POINT, labels=[1])
    r.propagate()


def _case_midtrack(r):
    r.points(0, 1, points=BOY_POINT, labels=[1])
    r.propagate(max_frame_num_to_track=3)  # frames 0..3
    r.points(5, 1, points=[[220.0, 300.0]], labels=[1])  # frame 5 not tracked yet: a second conditioning frame
    r.propagate()  # 0..7 with two conditioning frames
    r.points(6, 1, points=NEG_POINT, labels=[0])  # tracked frame: a correction fed with the previous logits
    r.propagate(start_frame_idx=6)


def _case_reverse(r):
    r.points(4, 1, points=BOY_POINT, labels=[1])
    r.propagate()  # 4..7
    r.propagate(reverse=True)  # 4..0


# The `session` case: a 30-frame editing session. Object 1's second conditioning click (frame 8) and the
# post-reset prompts (a box, then a click added to it) are on the same two people as the other cases.
SESSION_CLICK_F8 = [[215.0, 345.0]]


def _case_session(r):
    r.points(0, 1, points=BOY_POINT, labels=[1])
    r.propagate(max_frame_num_to_track=5)  # 0..5
    r.points(6, 2, points=GIRL_POINT, labels=[1])  # a new object after tracking started: frame 6 is its first
    r.points(8, 1, points=SESSION_CLICK_F8, labels=[1])  # untracked frame: object 1's second conditioning frame
    r.propagate(start_frame_idx=6, max_frame_num_to_track=5)  # 6..11, both objects; frame 8 of object 1 is kept
    r.clear_prompts(8, 1)  # object 1's conditioning output on frame 8 becomes a non-conditioning one
    r.remove_object(2)  # frame 6 (object 2's prompt) is returned with object 1 alone
    r.propagate(start_frame_idx=11, max_frame_num_to_track=12)  # 11..23: frame 11 re-tracked, full bank from 16
    r.reset()
    r.points(24, 1, box=GIRL_BOX)  # object id 1 again, now the girl
    r.points(24, 1, points=GIRL_POINT, labels=[1], clear_old_points=False)  # box + click, previous logits fed
    r.propagate()  # from the earliest conditioning frame, 24..29


def _case_absent(r):
    r.mask(0, 1, ellipse_mask(**BOY_ELLIPSE), "input.mask")
    r.points(0, 2, points=GIRL_POINT, labels=[1])
    r.propagate()


VIDEO_CASES: List[VideoCase] = [
    VideoCase("point", _case_point, num_frames=LONG_FRAMES, keep_maskmem=True, video_logits_at=[(1, 8)],
              video_masks=True,
              note="one positive click on frame 0; 17 frames so that frame 16 attends to a full memory bank "
              "(7 memories, 16 object pointers)"),
    VideoCase("points_pos_neg", _case_points_pos_neg, note="positive + negative click on frame 0 (single-mask "
              "output with the dynamic stability fallback)"),
    VideoCase("box", _case_box, note="box on frame 0 (labels 2 / 3)"),
    VideoCase("mask", _case_mask, note="mask prompt on frame 0 (use_mask_input_as_output_without_sam)"),
    VideoCase("two_objects", _case_two_objects, video_masks="calls+ends", note="object 1 clicked, object 2 boxed, both on frame 0"),
    VideoCase("late_object", _case_late_object, video_masks="calls+ends", note="object 2 first prompted on frame 3: its frames 0-2 have "
              "memories without object pointers (the f32 cast of harness.install_memory_f32_cast)"),
    VideoCase("midtrack", _case_midtrack, video_masks="calls+ends", note="track 0-3, add a conditioning click on frame 5, re-track all, "
              "correct tracked frame 6 (previous logits as mask input), re-track from 6"),
    VideoCase("midtrack_clear", _case_midtrack, video_masks="calls+ends",
              hydra_extra=("++model.clear_non_cond_mem_around_input=true",),
              note="the midtrack session with clear_non_cond_mem_around_input=True: filing a prompt and tracking "
              "through a prompted frame drop that object's tracked outputs within num_maskmem frames"),
    VideoCase("midtrack_correct_cond", _case_midtrack, video_masks="calls+ends",
              hydra_extra=("++model.add_all_frames_to_correct_as_cond=true",),
              note="the midtrack session with add_all_frames_to_correct_as_cond=True: the correction click on tracked "
              "frame 6 makes frame 6 a conditioning frame, kept through the re-propagation"),
    VideoCase("reverse", _case_reverse, note="click on frame 4, track forward 4-7, then in reverse 4-0"),
    VideoCase("absent", _case_absent, overrides=ABSENT_OVERRIDES,
              note="object-score bias override -3: object 1 (mask prompt) is present on frame 0 (+10) and absent "
              "after; object 2 (click) is absent on every frame"),
    VideoCase("session", _case_session, num_frames=SESSION_FRAMES, video_masks="calls+ends", fills=(False,),
              note="a 30-frame editing session: click object 1 on frame 0, track 0-5; add object 2 on frame 6 and a "
              "second conditioning click for object 1 on frame 8, track 6-11; clear object 1's prompts on frame 8 "
              "(its conditioning output becomes non-conditioning); remove object 2; track 11-23 (full memory bank "
              "from frame 16 on); reset_state; box then an added click for object 1 (now the girl) on frame 24; "
              "track 24-29"),
]


def run_video_case(case: VideoCase, root: str, fill_holes: bool, image_size: int = SIZE, config: str = CONFIG,
                   video_masks: Union[bool, str] = True, model=None, path: Optional[str] = None) -> str:
    if model is None:
        model = harness.build_predictor(config, image_size, case.overrides, case.hydra_extra)
    variant = "filled" if fill_holes else "nofill"
    path = path or os.path.join(root, f"{case.name}.{variant}.safetensors")
    meta = base_meta(
        config,
        image_size,
        case.overrides,
        case=case.name,
        note=case.note,
        predictor_options=list(case.hydra_extra),
        num_frames=case.num_frames,
        frames_file="samples/bedroom: the first num_frames JPEGs as the official loader reads them",
        video_height=VIDEO_H,
        video_width=VIDEO_W,
        fill_holes=(
            "filled: the official fill_holes_in_mask_scores(fill_hole_area=8) with the CPU connected-components "
            "stand-in" if fill_holes else "nofill: as the official code runs on CPU (hole filling skipped)"
        ),
    )
    if case.propagated_dtype:
        meta["propagated_pred_masks"] = case.propagated_dtype.upper()
    if video_masks == "calls+ends":
        meta["video_res_masks"] = "every call but propagations, and the last frame of each propagation"
    wr = FixtureWriter(path, meta)
    with harness.FrameDir(case.num_frames) as d:
        r = harness.VideoRecorder(model, wr, d, fill_holes=fill_holes, keep_maskmem=case.keep_maskmem,
                                  video_logits_at=case.video_logits_at if video_masks else (),
                                  video_masks=video_masks, propagated_dtype=case.propagated_dtype)
        case.run(r)
    for s in r.steps:
        if s.get("kind") == "mask" and s["mask"] not in wr.tensors:
            wr.add_mask(s["mask"], ellipse_mask(**BOY_ELLIPSE))
            wr.meta["mask_ellipse"] = BOY_ELLIPSE
    wr.meta["steps"] = r.steps
    wr.save()
    return path


def video_fixtures(root: str, image_size: int = SIZE, names: Optional[List[str]] = None) -> List[str]:
    """The video cases (all, or those in `names`), each in its hole-filling variants."""
    unknown = set(names or ()) - {c.name for c in VIDEO_CASES}
    if unknown:
        raise SystemExit(f"unknown video case(s): {' '.join(sorted(unknown))}")
    paths = []
    for case in VIDEO_CASES:
        if names and case.name not in names:
            continue
        for fill in case.fills:
            t = time.time()
            paths.append(run_video_case(case, root, fill, image_size=image_size,
                                        video_masks=case.video_masks if not fill else False))
            print(f"    {case.name} {'filled' if fill else 'nofill'}: {time.time() - t:.1f}s")
    return paths


# ================================================================= memory encoder / memory attention
def memory_fixtures(root: str, image_size: int = SIZE, config: str = CONFIG) -> List[str]:
    """Captures the memory encoder (3 calls) and memory attention (frame 16 of the `point` case) inside
    official video runs: the same calls the video fixtures make."""
    enc_path = os.path.join(root, "memory_encoder.safetensors")
    att_path = os.path.join(root, "memory_attention.safetensors")
    enc_meta = base_meta(config, image_size, cases={})
    enc = FixtureWriter(enc_path, enc_meta)

    def capture_encoder(model, wanted: Dict[int, str], detail: str):
        """Records the calls of model._encode_new_memory whose call index is in `wanted` (index -> case name)."""
        me = model.memory_encoder
        calls = {"n": 0}
        rec: Dict[str, torch.Tensor] = {}
        hooks = [
            me.mask_downsampler.register_forward_hook(lambda m, i, o: rec.__setitem__("mask_downsampler", o.clone())),
            me.pix_feat_proj.register_forward_hook(lambda m, i, o: rec.__setitem__("pix_feat_proj", o.clone())),
            me.fuser.register_forward_hook(lambda m, i, o: rec.__setitem__("fuser", o.clone())),
            me.out_proj.register_forward_hook(lambda m, i, o: rec.__setitem__("out_proj", o.clone())),
        ]
        original = model._encode_new_memory

        def wrapped(current_vision_feats, feat_sizes, pred_masks_high_res, object_score_logits, is_mask_from_pts):
            feats, pos = original(current_vision_feats=current_vision_feats, feat_sizes=feat_sizes,
                                  pred_masks_high_res=pred_masks_high_res, object_score_logits=object_score_logits,
                                  is_mask_from_pts=is_mask_from_pts)
            idx = calls["n"]
            calls["n"] += 1
            if idx in wanted:
                name = wanted[idx]
                h, w = feat_sizes[-1]
                pix = current_vision_feats[-1].permute(1, 2, 0).reshape(-1, model.hidden_dim, h, w)
                enc.add(f"{name}.pix_feat", pix, role="input")
                enc.add(f"{name}.pred_masks_high_res", pred_masks_high_res, role="input")
                enc.add(f"{name}.object_score_logits", object_score_logits, role="input")
                if name == detail:
                    enc.add(f"{name}.memory_encoder.mask_downsampler", rec["mask_downsampler"])
                    enc.add(f"{name}.memory_encoder.pix_feat_proj", rec["pix_feat_proj"])
                    enc.add(f"{name}.memory_encoder.fuser", rec["fuser"])
                enc.add(f"{name}.memory_encoder.vision_features", rec["out_proj"])
                enc.add(f"{name}.maskmem_features", feats)
                enc.add(f"{name}.maskmem_pos_enc", pos[-1])
                enc_meta["cases"][name] = {
                    "is_mask_from_pts": bool(is_mask_from_pts),
                    "object_present": bool(float(object_score_logits.reshape(-1)[0]) > 0),
                    "binarized": bool(model.binarize_mask_from_pts_for_mem_enc and is_mask_from_pts),
                }
            return feats, pos

        model._encode_new_memory = wrapped
        return hooks

    # --- the `point` case, 17 frames: memory encoder calls 0 (frame 0, preflight) and 1 (frame 1, tracking),
    #     memory attention on frame 16
    model = harness.build_predictor(config, image_size)
    hooks = capture_encoder(model, {0: "click_frame", 1: "tracked_frame"}, detail="click_frame")
    att: Dict[str, object] = {}
    current = {"frame": None}
    original_prepare = model._prepare_memory_conditioned_features

    def prepare(**kwargs):
        current["frame"] = kwargs["frame_idx"]
        return original_prepare(**kwargs)

    model._prepare_memory_conditioned_features = prepare
    capture_frame = LONG_FRAMES - 1

    def att_pre(m, args, kwargs):
        if current["frame"] == capture_frame:
            att["inputs"] = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
            att["inputs"]["curr"] = kwargs["curr"][0].clone()
            att["inputs"]["curr_pos"] = kwargs["curr_pos"][0].clone()
        return None

    def att_post(m, args, kwargs, out):
        if current["frame"] == capture_frame:
            att["output"] = out.clone()

    ma = model.memory_attention
    # registered after the f32 cast hook, so the recorded memory is what the layers actually consume
    hooks.append(ma.register_forward_pre_hook(att_pre, with_kwargs=True))
    hooks.append(ma.register_forward_hook(att_post, with_kwargs=True))
    layer_outs: Dict[int, torch.Tensor] = {}
    for i, layer in enumerate(ma.layers):
        hooks.append(layer.register_forward_hook(
            lambda m, a, o, i=i: layer_outs.__setitem__(i, o.clone()) if current["frame"] == capture_frame else None))

    state_holder = {}
    point_case = next(c for c in VIDEO_CASES if c.name == "point")
    run_video_case_inline(point_case, model, state_holder)
    for h in hooks:
        h.remove()

    # --- the `absent` case: memory encoder call 2 is frame 1 of object 1 with the object absent
    absent_case = next(c for c in VIDEO_CASES if c.name == "absent")
    model2 = harness.build_predictor(config, image_size, absent_case.overrides)
    # calls: 0, 1 = preflight of objects 1 and 2 on frame 0; 2 = frame 1 object 1
    hooks2 = capture_encoder(model2, {2: "absent_frame"}, detail="")
    run_video_case_inline(absent_case, model2, {})
    for h in hooks2:
        h.remove()
    enc_meta["cases"]["absent_frame"]["overrides"] = absent_case.overrides
    enc_meta["cases"]["click_frame"]["source"] = "video case point, frame 0 (propagate preflight)"
    enc_meta["cases"]["tracked_frame"]["source"] = "video case point, frame 1"
    enc_meta["cases"]["absent_frame"]["source"] = "video case absent, frame 1, object 1"
    assert not enc_meta["cases"]["absent_frame"]["object_present"]
    enc.save()

    # --- memory attention: check the memory's composition against the predictor's stored state
    state = state_holder["state"]
    inp = att["inputs"]
    per_obj = state["output_dict_per_obj"][0]
    f = capture_frame
    mem_frames = [0] + list(range(f - 6, f))  # t_pos 0 (conditioning frame), then t_pos 1..6
    ptr_frames = [0] + list(range(f - 1, 0, -1))  # conditioning frame, then t_diff = 1..15

    def stored(t):
        out = per_obj["cond_frame_outputs"].get(t)
        return out if out is not None else per_obj["non_cond_frame_outputs"][t]

    mem = torch.cat([stored(t)["maskmem_features"].float().flatten(2).permute(2, 0, 1) for t in mem_frames], 0)
    ptrs = torch.stack([stored(t)["obj_ptr"] for t in ptr_frames], 0)  # [16, 1, 256]
    c, d = model.hidden_dim, model.mem_dim
    ptr_tokens = ptrs.reshape(-1, 1, c // d, d).permute(0, 2, 1, 3).flatten(0, 1)
    expected = torch.cat([mem, ptr_tokens], 0)
    assert torch.equal(inp["memory"], expected), "memory composition differs from the documented order"
    assert inp["num_obj_ptr_tokens"] == ptr_tokens.shape[0] == 64
    from sam2.modeling.sam2_utils import get_1d_sine_pe

    ptr_tpos = [f] + list(range(1, len(ptr_frames)))  # signed distance of the conditioning frame, then t_diff
    n_mem = model.num_maskmem
    mem_pos = torch.cat([stored(t)["maskmem_pos_enc"][-1].flatten(2).permute(2, 0, 1)
                         + model.maskmem_tpos_enc[n_mem - t_pos - 1] for t_pos, t in enumerate(mem_frames)], 0)
    with torch.inference_mode():
        obj_pos = model.obj_ptr_tpos_proj(get_1d_sine_pe(torch.tensor(ptr_tpos, dtype=torch.float32)
                                                         / (model.max_obj_ptrs_in_encoder - 1), dim=c))
    obj_pos = obj_pos.unsqueeze(1).repeat_interleave(c // d, dim=0)
    expected_pos = torch.cat([mem_pos, obj_pos], 0)
    assert torch.equal(inp["memory_pos"], expected_pos), "memory_pos composition differs from the documented one"

    wr = FixtureWriter(
        att_path,
        base_meta(
            config,
            image_size,
            source=f"video case point (no fill), frame {f}",
            memory_frames=mem_frames,
            memory_t_pos=list(range(7)),
            object_pointer_frames=ptr_frames,
            object_pointer_tpos=ptr_tpos,
            num_obj_ptr_tokens=int(inp["num_obj_ptr_tokens"]),
            layout="sequence-first: [tokens, batch, channels]; memory_attention.layers.* are batch-first "
            "[batch, tokens, channels]",
            composition="memory = cat(maskmem_features of memory_frames, each flatten(2).permute(2,0,1)) then "
            "object pointers of object_pointer_frames split into 4 tokens of 64 channels; memory_pos = "
            "maskmem_pos_enc + maskmem_tpos_enc[num_maskmem - t_pos - 1] per memory, then "
            "obj_ptr_tpos_proj(get_1d_sine_pe(tpos / 15, 256)) repeated per token",
        ),
    )
    wr.add("curr", inp["curr"], role="input")
    wr.add("curr_pos", inp["curr_pos"], role="input")
    wr.add("memory", inp["memory"], role="input")
    wr.add("memory_pos", inp["memory_pos"], role="input")
    for i in sorted(layer_outs):
        wr.add(f"memory_attention.layers.{i}", layer_outs[i])
    wr.add("output", att["output"])
    wr.save()
    return [enc_path, att_path]


def run_video_case_inline(case: VideoCase, model, holder: dict) -> None:
    """Runs a video case for its side effects (hooks); the recorded outputs are discarded, the predictor's
    final inference state is left in holder["state"]."""
    with harness.FrameDir(case.num_frames) as d:
        r = harness.VideoRecorder(model, FixtureWriter(os.devnull), d, fill_holes=False, video_masks=False)
        case.run(r)
    holder["state"] = r.state


# ============================================================================================ configs
def config_fixtures(root: str, image_size: int = SIZE) -> List[str]:
    """Every official config at the reduced size: a click on frame 0 and 3 tracked frames."""
    case = VideoCase("point", _case_point, num_frames=3, note="one positive click on frame 0, frames 0-2")
    paths = []
    for config in harness.CONFIG_FILES:
        t = time.time()
        model = harness.build_predictor(config, image_size)
        c = VideoCase(config, case.run, num_frames=3, note=case.note)
        paths.append(run_video_case(c, root, fill_holes=False, image_size=image_size, config=config,
                                    video_masks=False, model=model,
                                    path=os.path.join(root, f"{config}.safetensors")))
        print(f"    {config}: {time.time() - t:.1f}s")
    return paths


# ============================================================================================== full
def full_fixtures(root: str) -> List[str]:
    """The tiny config at its native 1024: image encoder and a 3-frame click case (slow; not committed)."""
    size = 1024
    out = os.path.join(root, "full", "tiny1024")
    paths = [frames_fixture(out, size, 3), image_encoder_fixture(out, size)]
    case = VideoCase("point", _case_point, num_frames=3, note="one positive click on frame 0, frames 0-2")
    paths.append(run_video_case(case, out, fill_holes=False, image_size=size))
    return paths


GROUPS = ["checksums", "frames", "image_encoder", "prompt_encoder", "mask_decoder", "memory", "video", "configs",
          "rope", "resize", "pil_resize", "hiera", "image_predictor"]
# Groups whose outputs do not depend on --image-size (files beside the tests, see data_fixtures.py): a run at
# another size, or into another --out root, writes them only when named in --only.
SIZE_FREE_GROUPS = ["rope", "resize", "pil_resize", "hiera", "image_predictor"]


def output_dirs(root: str, image_size: int = SIZE) -> List[str]:
    """The folders a complete run at `image_size` writes (and first deletes)."""
    return [os.path.join(root, f"tiny{image_size}"), os.path.join(root, f"configs{image_size}")]


def run(root: str, only: Optional[List[str]], full: bool, image_size: int = SIZE,
        video_cases: Optional[List[str]] = None) -> None:
    """Writes the fixture groups (all, or `only`) at `image_size` into <root>/tiny<size> and
    <root>/configs<size> (the committed ones are the 256 ones), and the size-free groups beside the tests
    (data_fixtures.py). `video_cases`: only these video cases (default all)."""
    import data_fixtures

    tiny, configs = output_dirs(root, image_size)
    # the data beside the tests always goes to test/kernels/data and test/model/data: a complete run into
    # another --out root leaves them alone
    default_root = os.path.abspath(root) == os.path.join(harness.REPO, "test", "fixtures")
    steps = {
        "frames": lambda: frames_fixture(tiny, image_size, write=image_size != SIZE or not default_root),
        "image_encoder": lambda: image_encoder_fixture(tiny, image_size),
        "prompt_encoder": lambda: prompt_encoder_fixture(tiny, image_size),
        "mask_decoder": lambda: mask_decoder_fixture(tiny, image_size),
        "memory": lambda: memory_fixtures(tiny, image_size),
        "video": lambda: video_fixtures(os.path.join(tiny, "video"), image_size, video_cases),
        "configs": lambda: config_fixtures(configs, image_size),
        "rope": data_fixtures.rope_fixture,
        "resize": data_fixtures.resize_fixture,
        "pil_resize": data_fixtures.pil_resize_fixture,
        "hiera": data_fixtures.hiera_blocks_fixture,
        "image_predictor": data_fixtures.image_predictor_fixture,
    }
    for name, fn in steps.items():
        if only is not None and name not in only:
            continue
        if only is None and name in SIZE_FREE_GROUPS and (image_size != SIZE or not default_root):
            continue
        t = time.time()
        print(f"[{name}]")
        fn()
        print(f"[{name}] {time.time() - t:.1f}s")
    if full:
        os.makedirs(os.path.join(root, "full"), exist_ok=True)
        with open(os.path.join(root, "full", ".gitignore"), "w") as f:
            f.write("# 1024-pixel fixtures: regenerated by `regenerate.sh --full`, never committed\n*\n!.gitignore\n")
        t = time.time()
        print("[full]")
        full_fixtures(root)
        print(f"[full] {time.time() - t:.1f}s")
