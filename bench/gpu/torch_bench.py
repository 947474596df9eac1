"""PyTorch side of the GPU benchmark: per-frame time of tracked frames through Meta's official
`SAM2VideoPredictor` (the `sam2` package, imported), with the project's synthetic weights.

The case is the one the engine measures: the bedroom clip (samples/bedroom, 960x540), one positive click per
object on frame 0, then `propagate_in_video`. Frames 1..--setup-frames are tracked untimed, so that the
memory bank is full when timing starts (7 mask memories: the prompted frame and the 6 previous frames;
16 object pointers: the prompted frame and 15 previous frames); the next --frames frames are timed one by
one. A frame's time runs from the end of the previous frame to the moment its masks are on the host: the
predictor yields the video-resolution mask logits [objects, 1, H, W] on the device, and the loop thresholds
them (`> 0`) and copies them to the CPU (`.cpu()`) inside the timed interval, as the engine returns each
frame's masks to the CPU. On CUDA the clock is read after `torch.cuda.synchronize()`.

The model is built once per run by tools/reference/harness.py (`build_predictor`: the official
`build_sam2_video_predictor` with `++model.image_size=<n>`, the synthetic state_dict loaded strictly, the
memory-attention f32 input cast) and moved to the device. Plain `SAM2VideoPredictor`: no `vos_optimized`,
no torch.compile. Each case (objects x precision) gets its own `init_state` (the frames are loaded and resized
by the official loader) and ends with `reset_state`. The untimed setup frames also absorb the first-use costs
of the case's kernels (cuBLAS / cuDNN handles, autocast kernels); the first tracked frame's time is reported
on its own (`first_frame_ms`).

Precisions:
- `f32`: float32 everywhere, TF32 off for matmuls and cuDNN convolutions (the engine's f32 is IEEE f32);
- `tf32`: float32 weights and activations, TF32 on (optional);
- `bf16`: `torch.autocast(device_type, dtype=torch.bfloat16)` around init_state, the prompts and the
  propagation, TF32 on for what autocast leaves in f32, as the official demo notebook does. Allowed on CPU
  too (CPU autocast), where it is slow and only a smoke test of the code path.

Hole filling (`fill_hole_area=8` of the video predictor): on CUDA the official code uses the `sam2._C`
extension when the package was built with it; the wheel built by bench/gpu/wheels.sh has no extension
(SAM2_BUILD_CUDA=0), so the official code warns once and skips the step, as any install without the
extension does. On CPU the harness's connected-components stand-in (tools/reference/fill_holes.py) runs the
official fill, as in the reference fixtures. The JSON records which one ran.

Results go to --out after every case (written to <out>.tmp, then renamed). --time-cap bounds the run: a
case is not started when the time left is shorter than the estimate from the cases already run (recorded
as skipped, with the reason), and a running case stops its timed loop early when the cap is near (recorded
as truncated). A markdown table goes to stdout at the end; progress lines go to stderr.

Smoke test on the CPU (reference venv, bash tools/reference/setup.sh):
    tools/reference/.venv/bin/python bench/gpu/torch_bench.py --device cpu --image-size 256 --frames 3 \
        --setup-frames 2 --objects 1,3 --precisions f32 --out /tmp/tb.json
On a machine with torch but without sam2: install the wheels of bench/gpu/wheels.sh into a folder and put it
on PYTHONPATH.
"""
from __future__ import annotations

import time

T_START = time.monotonic()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
REFERENCE = os.path.join(REPO, "tools", "reference")
BEDROOM = os.path.join(REPO, "samples", "bedroom")

# Click positions in video pixels (x, y) of the 960x540 bedroom frames, the same as bench/model_video.ts;
# objects beyond these get positions from a fixed spread over the frame.
PROMPTS = [(210.0, 350.0), (390.0, 220.0), (700.0, 300.0)]

PRECISIONS = ("f32", "tf32", "bf16")
# Seconds kept free at the end of the cap for writing the results.
END_MARGIN_S = 2.0


def log(msg: str) -> None:
    print(f"[torch_bench {time.monotonic() - T_START:6.1f}s] {msg}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Per-frame time of the official SAM2VideoPredictor (synthetic weights).")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--config", default="sam2.1_hiera_t", help="official config name (default sam2.1_hiera_t, 'tiny')")
    ap.add_argument("--image-size", type=int, default=1024, help="model input size (default 1024)")
    ap.add_argument("--frames", type=int, default=30, help="timed frames per case (default 30)")
    ap.add_argument("--setup-frames", type=int, default=16,
                    help="frames tracked untimed after the prompted frame 0 (default 16: a full memory bank)")
    ap.add_argument("--objects", default="1,3", help="comma-separated object counts (default 1,3)")
    ap.add_argument("--precisions", default="f32,bf16", help=f"comma-separated, of {', '.join(PRECISIONS)} (default f32,bf16)")
    ap.add_argument("--out", default=None, help="JSON results, rewritten after every case")
    ap.add_argument("--time-cap", type=float, default=None,
                    help="seconds from the start of the process: no case starts when it would not finish in time")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: OMP_NUM_THREADS, else 2 on cpu; torch's default on cuda)")
    args = ap.parse_args(argv)
    try:
        args.objects = [int(x) for x in args.objects.split(",") if x.strip()]
    except ValueError:
        ap.error("--objects takes comma-separated integers, e.g. 1,3")
    if not args.objects or min(args.objects) < 1:
        ap.error("--objects needs positive counts")
    args.precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
    bad = [p for p in args.precisions if p not in PRECISIONS]
    if bad or not args.precisions:
        ap.error(f"--precisions: unknown {bad}; choose from {', '.join(PRECISIONS)}")
    if args.image_size % 16 or args.image_size < 64:
        ap.error("--image-size must be a multiple of 16, at least 64")
    if args.frames < 1 or args.setup_frames < 0:
        ap.error("--frames must be >= 1 and --setup-frames >= 0")
    return args


class Results:
    """The JSON document, rewritten atomically (tmp file + rename) on every save."""

    def __init__(self, path: Optional[str], doc: Dict[str, Any]):
        self.path = path
        self.doc = doc

    def save(self) -> None:
        self.doc["elapsed_s"] = round(time.monotonic() - T_START, 3)
        if not self.path:
            return
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        tmp = self.path + ".tmp"
        text = json.dumps(self.doc, indent=1)
        # arrays of plain values (per-frame times, shapes, clicks) on one line each
        text = re.sub(r"\[[^\[\]{}]*\]", lambda m: " ".join(m.group(0).split()).replace("[ ", "[").replace(" ]", "]"), text)
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, self.path)


def import_reference():
    """The reference harness (and through it torch and the official sam2)."""
    if REFERENCE not in sys.path:
        sys.path.insert(0, REFERENCE)
    import harness  # noqa: F401  (imports torch, sam2 lazily, fill_holes, synthetic, fixture_io)
    import sam2  # noqa: F401
    import sam2.build_sam  # noqa: F401  (hydra, omegaconf)
    import sam2.modeling.backbones.hieradet  # noqa: F401  (iopath)

    return harness


def video_dir(num_frames: int) -> str:
    """A temporary folder of `num_frames` JPEGs named 00000.jpg..., cycling through samples/bedroom."""
    sources = sorted(f for f in os.listdir(BEDROOM) if f.lower().endswith(".jpg"))
    if not sources:
        raise FileNotFoundError(f"no JPEG frames in {BEDROOM}")
    path = tempfile.mkdtemp(prefix="sam2-torch-bench-")
    for i in range(num_frames):
        shutil.copyfile(os.path.join(BEDROOM, sources[i % len(sources)]), os.path.join(path, f"{i:05d}.jpg"))
    return path


def click(k: int, width: int, height: int):
    if k < len(PROMPTS):
        x, y = PROMPTS[k]
        return x * width / 960.0, y * height / 540.0
    # a fixed spread over the inner 80% of the frame for further objects
    u = (0.1 + (k * 0.618034) % 0.8, 0.1 + (k * 0.381966) % 0.8)
    return u[0] * width, u[1] * height


def set_precision(torch, device_type: str, precision: str):
    """The case's TF32 switches (CUDA only; None on CPU) and its autocast context (or a null context).
    Only the legacy switches are written, as the official demo does: PyTorch refuses to read TF32 state
    that was written through both its legacy and its newer (fp32_precision) interfaces."""
    tf32 = None
    if device_type == "cuda":
        tf32 = precision in ("tf32", "bf16")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16), tf32
    return contextlib.nullcontext(), tf32


def stats(ms: List[float]) -> Dict[str, Any]:
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
        "fps": round(1000.0 / statistics.fmean(ms), 2),
    }


def run_case(torch, harness, predictor, frames_path: str, objects: int, precision: str, args, sync, deadline):
    """One case: init_state, one click per object on frame 0, propagation; returns the case's record."""
    import numpy as np

    device_type = args.device
    autocast, tf32 = set_precision(torch, device_type, precision)
    fill_cpu = args.device == "cpu"
    rec: Dict[str, Any] = {"objects": objects, "precision": precision, "tf32": tf32,
                           "autocast": "bfloat16" if precision == "bf16" else None}
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_case = time.perf_counter()
    state = None
    with harness.fill_holes_patch(fill_cpu), torch.inference_mode(), autocast:
        try:
            sync()
            t0 = time.perf_counter()
            state = predictor.init_state(video_path=frames_path)
            sync()
            rec["init_state_s"] = round(time.perf_counter() - t0, 3)
            width, height = state["video_width"], state["video_height"]
            rec["clicks"] = []
            t0 = time.perf_counter()
            for k in range(objects):
                x, y = click(k, width, height)
                rec["clicks"].append([round(x, 2), round(y, 2)])
                predictor.add_new_points_or_box(
                    state, frame_idx=0, obj_id=k + 1,
                    points=np.array([[x, y]], dtype=np.float32), labels=np.array([1], dtype=np.int32),
                )
            sync()
            rec["prompt_ms"] = round((time.perf_counter() - t0) * 1e3, 3)

            setup_ms: List[float] = []
            timed_ms: List[float] = []
            truncated = False
            mask_shape = None
            t_prev = time.perf_counter()
            for frame_idx, obj_ids, video_res_masks in predictor.propagate_in_video(state):
                host = (video_res_masks > 0).cpu()
                sync()
                t = time.perf_counter()
                ms = (t - t_prev) * 1e3
                t_prev = t
                mask_shape = list(host.shape)
                assert len(obj_ids) == objects
                if frame_idx == 0:
                    rec["frame0_ms"] = round(ms, 3)  # propagation preflight: memory encoding of the prompts
                elif frame_idx <= args.setup_frames:
                    setup_ms.append(ms)
                else:
                    timed_ms.append(ms)
                if deadline is not None and time.monotonic() > deadline and len(timed_ms) < args.frames:
                    truncated = True
                    break
                t_prev = time.perf_counter()
        finally:
            if state is not None:
                predictor.reset_state(state)
            del state
    rec["case_s"] = round(time.perf_counter() - t_case, 3)
    rec["mask_shape"] = mask_shape
    rec["setup_ms"] = [round(x, 3) for x in setup_ms]
    rec["first_frame_ms"] = round(setup_ms[0], 3) if setup_ms else (round(timed_ms[0], 3) if timed_ms else None)
    rec["frame_ms"] = [round(x, 3) for x in timed_ms]
    if timed_ms:
        rec.update(stats(timed_ms))
    rec["status"] = "truncated" if truncated else "ok"
    if not truncated and len(timed_ms) != args.frames:
        raise RuntimeError(f"{len(timed_ms)} timed frames instead of {args.frames}")
    if truncated:
        rec["reason"] = f"time cap: stopped after {len(timed_ms)} of {args.frames} timed frames"
    if args.device == "cuda":
        rec["peak_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return rec


def estimate_s(done: List[Dict[str, Any]], objects: int) -> Optional[float]:
    """Seconds a case with `objects` objects should take, from the cases already run (None: no estimate)."""
    runs = [c for c in done if c.get("case_s") is not None and c.get("status") == "ok"]
    same = [c["case_s"] for c in runs if c["objects"] == objects]
    if same:
        return max(same)
    if runs:
        # the per-object work (memory attention, decoder, memory encoder) dominates a tracked frame
        return max(c["case_s"] * max(1.0, objects / c["objects"]) for c in runs)
    return None


def _ms(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def markdown(doc: Dict[str, Any]) -> str:
    lines = [
        f"official sam2 {doc.get('sam2_version')} SAM2VideoPredictor, {doc['config']} (synthetic weights), "
        f"{doc['image_size']} px, {doc.get('device_name')}, torch {doc.get('torch')}; "
        f"{doc['setup_frames']} setup + {doc['timed_frames']} timed frames, masks to host every frame",
        "",
        "| objects | precision | ms / frame (median) | mean | min | fps | n | first tracked frame ms | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in doc["cases"]:
        if "median_ms" in c:
            lines.append(
                f"| {c['objects']} | {c['precision']} | {c['median_ms']:.1f} | {c['mean_ms']:.1f} | {c['min_ms']:.1f} "
                f"| {c['fps']:.1f} | {c['n']} | {_ms(c.get('first_frame_ms'))} "
                f"| {c['status']} |"
            )
        else:
            lines.append(f"| {c['objects']} | {c['precision']} | - | - | - | - | 0 | - | {c['status']}: {c.get('reason', '')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    deadline = None if args.time_cap is None else T_START + args.time_cap - END_MARGIN_S
    doc: Dict[str, Any] = {
        "bench": "bench/gpu/torch_bench.py",
        "implementation": "official sam2 SAM2VideoPredictor (no vos_optimized, no torch.compile)",
        "config": args.config,
        "weights": "synthetic (tools/reference/synthetic.py)",
        "image_size": args.image_size,
        "device_type": args.device,
        "setup_frames": args.setup_frames,
        "timed_frames": args.frames,
        "objects": args.objects,
        "precisions": args.precisions,
        "time_cap_s": args.time_cap,
        "video": {"source": "samples/bedroom (cycled)", "frames": args.setup_frames + args.frames + 1},
        "timing": ("per frame: from the end of the previous frame until the yielded video-resolution mask logits "
                   "are thresholded (> 0) and copied to the host (.cpu()), after torch.cuda.synchronize() on cuda; "
                   "frame 0 (prompted) and frames 1..setup_frames untimed"),
        "python": platform.python_version(),
        "cases": [],
        "status": "starting",
    }
    results = Results(args.out, doc)
    try:
        harness = import_reference()
    except ImportError as e:
        doc["status"] = "error"
        doc["error"] = (f"import failed: {e!r}. On a machine without sam2, install the wheels built by "
                        "bench/gpu/wheels.sh (pip install --no-index --no-deps --target SITE *.whl) and set PYTHONPATH=SITE.")
        results.save()
        log(doc["error"])
        return 2
    import torch

    try:
        from importlib.metadata import version

        doc["sam2_version"] = version("sam2")
    except Exception:  # metadata missing (e.g. a source checkout on the path)
        doc["sam2_version"] = "unknown"
    import sam2

    doc["sam2_file"] = sam2.__file__
    doc["torch"] = torch.__version__
    doc["torch_cuda"] = torch.version.cuda

    if args.device == "cuda":
        if not torch.cuda.is_available():
            doc["status"] = "error"
            doc["error"] = "--device cuda, but torch.cuda.is_available() is False"
            results.save()
            log(doc["error"])
            return 2
        threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or torch.get_num_threads()
    else:
        threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or 2
    # seeds, thread count and the warning filters of the reference harness; a benchmark runs the default
    # (non-deterministic) kernels
    harness.set_determinism(threads)
    torch.use_deterministic_algorithms(False)
    doc["threads"] = torch.get_num_threads()
    device = torch.device(args.device)

    if args.device == "cuda":
        t0 = time.perf_counter()
        torch.cuda.init()
        torch.zeros(1, device=device)
        torch.cuda.synchronize()
        doc["cuda_init_s"] = round(time.perf_counter() - t0, 3)
        doc["device_name"] = torch.cuda.get_device_name(0)
        doc["cudnn"] = torch.backends.cudnn.version()

        def sync():
            torch.cuda.synchronize()
    else:
        doc["device_name"] = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"

        def sync():
            pass

    try:
        from sam2 import _C  # noqa: F401

        has_ext = True
    except Exception:
        has_ext = False
    if args.device == "cpu":
        doc["hole_filling"] = "CPU connected-components stand-in (tools/reference/fill_holes.py) + official fill"
    elif has_ext:
        doc["hole_filling"] = "official, sam2._C CUDA extension"
    else:
        doc["hole_filling"] = "skipped: no sam2._C extension (official fallback: warn and leave the mask)"

    frames_path = None
    any_failed = False
    try:
        t0 = time.perf_counter()
        predictor = harness.build_predictor(args.config, args.image_size)
        predictor = predictor.to(device)
        sync()
        doc["build_s"] = round(time.perf_counter() - t0, 3)
        log(f"{args.config} built at {args.image_size} px on {doc['device_name']} in {doc['build_s']} s "
            f"(torch {torch.__version__}, sam2 {doc['sam2_version']} from {os.path.dirname(sam2.__file__)})")
        frames_path = video_dir(args.setup_frames + args.frames + 1)
        doc["status"] = "running"
        results.save()

        for objects in args.objects:
            for precision in args.precisions:
                est = estimate_s(doc["cases"], objects)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and (left <= 0 or (est is not None and est * 1.2 > left)):
                    reason = (f"time cap: {max(left, 0):.1f} s left before the cap margin, "
                              f"the case needs about {est:.1f} s" if est is not None else
                              f"time cap: {max(left, 0):.1f} s left before the cap margin")
                    doc["cases"].append({"objects": objects, "precision": precision, "status": "skipped", "reason": reason})
                    log(f"{objects} object(s), {precision}: skipped ({reason})")
                    results.save()
                    continue
                try:
                    rec = run_case(torch, harness, predictor, frames_path, objects, precision, args, sync, deadline)
                except Exception as e:  # keep the other cases (e.g. out of memory in one of them)
                    any_failed = True
                    rec = {"objects": objects, "precision": precision, "status": "failed",
                           "reason": f"{type(e).__name__}: {e}"[:2000]}
                    traceback.print_exc()
                    if args.device == "cuda":
                        torch.cuda.empty_cache()
                doc["cases"].append(rec)
                results.save()
                if "median_ms" in rec:
                    log(f"{objects} object(s), {precision}: median {rec['median_ms']:.1f} ms/frame "
                        f"({rec['fps']:.1f} fps) over {rec['n']} frames, first tracked frame {rec['first_frame_ms']:.1f} ms, "
                        f"case {rec['case_s']:.1f} s [{rec['status']}]")
                else:
                    log(f"{objects} object(s), {precision}: {rec['status']} ({rec.get('reason', '')})")
        doc["status"] = "failed cases" if any_failed else "done"
        doc["complete"] = all(c.get("status") == "ok" for c in doc["cases"])
    except Exception as e:
        doc["status"] = "error"
        doc["error"] = f"{type(e).__name__}: {e}"[:2000]
        traceback.print_exc()
        any_failed = True
    finally:
        if frames_path:
            shutil.rmtree(frames_path, ignore_errors=True)
        results.save()
    if "config" in doc and doc.get("build_s") is not None:
        print(markdown(doc), flush=True)
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
