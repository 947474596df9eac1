/**
 * Draws SAM 2 results over a frame as the official example notebook does: each object a stable colour
 * (matplotlib's tab10 by object id) at alpha 0.6, positive points as green stars and negative points as red
 * stars with a white edge, boxes outlined in green.
 */

export const TAB10: ReadonlyArray<readonly [number, number, number]> = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

export function objectColor(objId: number): readonly [number, number, number] {
  return TAB10[((objId % 10) + 10) % 10];
}

export interface OverlayMask {
  objId: number;
  /** width × height, nonzero = object. */
  mask: Uint8Array;
}

export interface OverlayPrompt {
  points?: ReadonlyArray<readonly [number, number]>;
  /** 1 positive, 0 negative (others are not drawn). */
  labels?: readonly number[];
  box?: readonly [number, number, number, number];
}

export interface OverlayOptions {
  alpha?: number;
  /** Star outer radius in pixels (default scales with the frame). */
  markerRadius?: number;
}

/** Returns a new RGB image: the frame with masks blended and prompts drawn. */
export function renderOverlay(
  width: number,
  height: number,
  rgb: Uint8Array,
  masks: readonly OverlayMask[],
  prompts: readonly OverlayPrompt[] = [],
  opts: OverlayOptions = {},
): Uint8Array {
  const out = rgb.slice();
  const a = opts.alpha ?? 0.6;
  for (const m of masks) {
    if (m.mask.length !== width * height) throw new Error(`renderOverlay: mask of object ${m.objId} has ${m.mask.length} pixels, frame has ${width * height}`);
    const [r, g, b] = objectColor(m.objId);
    for (let p = 0; p < width * height; p++) {
      if (!m.mask[p]) continue;
      const o = p * 3;
      out[o] = Math.round(out[o] * (1 - a) + r * a);
      out[o + 1] = Math.round(out[o + 1] * (1 - a) + g * a);
      out[o + 2] = Math.round(out[o + 2] * (1 - a) + b * a);
    }
  }
  const radius = opts.markerRadius ?? Math.max(6, Math.round(Math.min(width, height) / 45));
  for (const pr of prompts) {
    if (pr.box) drawRect(out, width, height, pr.box, [0, 128, 0], 2);
    (pr.points ?? []).forEach(([x, y], i) => {
      const l = pr.labels?.[i] ?? 1;
      if (l !== 0 && l !== 1) return;
      drawStar(out, width, height, x, y, radius, l === 1 ? [0, 128, 0] : [255, 0, 0]);
    });
  }
  return out;
}

function put(img: Uint8Array, w: number, h: number, x: number, y: number, c: readonly number[]): void {
  if (x < 0 || y < 0 || x >= w || y >= h) return;
  const o = (y * w + x) * 3;
  img[o] = c[0];
  img[o + 1] = c[1];
  img[o + 2] = c[2];
}

function drawRect(img: Uint8Array, w: number, h: number, box: readonly number[], c: readonly number[], lw: number): void {
  const [x0, y0, x1, y1] = box.map(Math.round);
  for (let t = -Math.floor(lw / 2); t < Math.ceil(lw / 2); t++) {
    for (let x = x0; x <= x1; x++) {
      put(img, w, h, x, y0 + t, c);
      put(img, w, h, x, y1 + t, c);
    }
    for (let y = y0; y <= y1; y++) {
      put(img, w, h, x0 + t, y, c);
      put(img, w, h, x1 + t, y, c);
    }
  }
}

/** Five-pointed star: vertices alternate between the outer radius and 0.4 of it. */
function starPolygon(cx: number, cy: number, r: number): Array<[number, number]> {
  const pts: Array<[number, number]> = [];
  for (let k = 0; k < 10; k++) {
    const ang = -Math.PI / 2 + (k * Math.PI) / 5;
    const rr = k % 2 === 0 ? r : r * 0.4;
    pts.push([cx + rr * Math.cos(ang), cy + rr * Math.sin(ang)]);
  }
  return pts;
}

function inside(poly: Array<[number, number]>, x: number, y: number): boolean {
  let c = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}

function drawStar(img: Uint8Array, w: number, h: number, cx: number, cy: number, r: number, fill: readonly number[]): void {
  const outer = starPolygon(cx, cy, r + 1.25);
  const inner = starPolygon(cx, cy, r);
  for (let y = Math.floor(cy - r - 2); y <= Math.ceil(cy + r + 2); y++) {
    for (let x = Math.floor(cx - r - 2); x <= Math.ceil(cx + r + 2); x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      if (inside(inner, px, py)) put(img, w, h, x, y, fill);
      else if (inside(outer, px, py)) put(img, w, h, x, y, [255, 255, 255]);
    }
  }
}
