"""PIL's decode of the repository's image files: test/fixtures/decode/pil_decode.json.

The official SAM 2 video loader (sam2/utils/misc.py, _load_img_as_tensor) reads a folder of JPEG frames as
`Image.open(path).convert("RGB").resize((S, S))`; the engine decodes JPEGs with libjpeg-turbo to the same
bytes (src/io/jpeg.ts) and test/io/jpeg.test.ts checks them against this file. For every image it records
its path (relative to the repository root), PIL's mode, width and height, the sha256 of
`np.asarray(Image.open(path).convert("RGB"))` and the sha256 of the same after `.resize((256, 256))` (PIL's
default filter, bicubic: the official loader's resize at image size 256).

Images: the official frames samples/bedroom/*.jpg, samples/images/*.jpg, and the small test inputs in
test/fixtures/decode/ (JPEGs covering what folders of frames hold, PNGs for the PNG path). Those were made
once, from a crop of samples/images/truck.jpg, and are committed (cjpeg is not among the project's tools):
  ffmpeg_{420,422,444}.jpg, ffmpeg_420_97x61.jpg   ffmpeg -i src.ppm -pix_fmt yuvj4XXp -q:v 3 (mjpeg)
  cjpeg_{440,411}.jpg, cjpeg_440_97x61.jpg          cjpeg -quality 85 -sample 1x2 | 4x1 (libjpeg-turbo 2.1)
  cjpeg_rgb.jpg                                     cjpeg -rgb (three components without YCbCr)
  cjpeg_progressive_restart_97x61.jpg               cjpeg -progressive -restart 1
  pillow_{gray,progressive,restart,444_q100,cmyk}.jpg, pillow_progressive_97x61.jpg,
  pillow_exif_orientation6_97x61.jpg (EXIF orientation 6, which PIL's decode does not apply)  PIL save()
  rgb.png, rgba.png, gray.png, palette.png (PIL), rgb16.png, gray16.png (16-bit, written with zlib)

Run with the reference environment: tools/reference/.venv/bin/python tools/reference/decode_fixture.py
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, features

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test/fixtures/decode/pil_decode.json"
RESIZE = 256


def images() -> list[Path]:
    found = []
    for folder, patterns in [
        ("samples/bedroom", ["*.jpg"]),
        ("samples/images", ["*.jpg"]),
        ("test/fixtures/decode", ["*.jpg", "*.png"]),
    ]:
        for pattern in patterns:
            found += sorted((ROOT / folder).glob(pattern))
    return found


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def main() -> None:
    entries = []
    for path in images():
        with Image.open(path) as im:
            mode = im.mode
            rgb = im.convert("RGB")
        a = np.asarray(rgb)
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3, (path, a.shape)
        entries.append(
            {
                "path": path.relative_to(ROOT).as_posix(),
                "format": "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG",
                "mode": mode,
                "width": a.shape[1],
                "height": a.shape[0],
                "sha256": sha256(a),
                "resized_sha256": sha256(np.asarray(rgb.resize((RESIZE, RESIZE)))),
            }
        )
    doc = {
        "format": "sam2-webgpu-decode/1",
        "what": 'np.asarray(Image.open(path).convert("RGB")) and its .resize((256, 256)), as sha256 of the bytes',
        "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "numpy": np.__version__,
        "resize": RESIZE,
        "images": entries,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(entries)} images (Pillow {PIL.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
