/**
 * Position encodings of sam2/modeling/position_encoding.py and sam2_utils.get_1d_sine_pe.
 *
 * They depend only on shapes (and, for the random Fourier encoding, on one small weight matrix), so they are
 * computed on the CPU once per size and uploaded. Each step rounds to f32 where PyTorch computes in f32, so
 * the values match the official tensors to about one ulp.
 */
const f = Math.fround;

/** temperature ** (2 * (i // 2) / n) for i < n, as torch computes it in f32. */
function dimT(n: number, temperature: number): Float32Array {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = f(Math.pow(temperature, f(f(2 * Math.floor(i / 2)) / n)));
  return d;
}

export interface SineOptions {
  temperature?: number;
  normalize?: boolean;
  scale?: number;
}

/**
 * PositionEmbeddingSine(num_pos_feats = `channels`) for an H×W map: [channels, H, W], the first half encodes y
 * and the second half x, each as interleaved sin (even) / cos (odd) features.
 */
export function sinePositionEncoding(channels: number, H: number, W: number, opts: SineOptions = {}): Float32Array {
  if (channels % 2 !== 0) throw new Error(`sinePositionEncoding: channels ${channels} must be even`);
  const npf = channels / 2;
  const temperature = opts.temperature ?? 10000;
  const normalize = opts.normalize ?? true;
  const scale = f(opts.scale ?? 2 * Math.PI);
  const dt = dimT(npf, temperature);
  const eps = f(1e-6);
  const ys = new Float32Array(H);
  const xs = new Float32Array(W);
  for (let y = 0; y < H; y++) ys[y] = normalize ? f(f(f(y + 1) / f(H + eps)) * scale) : y + 1;
  for (let x = 0; x < W; x++) xs[x] = normalize ? f(f(f(x + 1) / f(W + eps)) * scale) : x + 1;
  const out = new Float32Array(channels * H * W);
  // Channel c < npf: y features; c >= npf: x features. Feature k: sin for even k, cos for odd k.
  for (let k = 0; k < npf; k++) {
    const trig = k % 2 === 0 ? Math.sin : Math.cos;
    const yv = new Float32Array(H);
    const xv = new Float32Array(W);
    for (let y = 0; y < H; y++) yv[y] = f(trig(f(ys[y] / dt[k])));
    for (let x = 0; x < W; x++) xv[x] = f(trig(f(xs[x] / dt[k])));
    const oy = k * H * W;
    const ox = (npf + k) * H * W;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        out[oy + y * W + x] = yv[y];
        out[ox + y * W + x] = xv[x];
      }
    }
  }
  return out;
}

/**
 * get_1d_sine_pe(pos_inds, dim): [n, dim] with sin of the first dim/2 features then cos of the same.
 */
export function sine1d(positions: ArrayLike<number>, dim: number, temperature = 10000): Float32Array {
  const pe = dim / 2;
  if (!Number.isInteger(pe)) throw new Error(`sine1d: dim ${dim} must be even`);
  const dt = dimT(pe, temperature);
  const out = new Float32Array(positions.length * dim);
  for (let i = 0; i < positions.length; i++) {
    const p = f(positions[i]);
    for (let k = 0; k < pe; k++) {
      const a = f(p / dt[k]);
      out[i * dim + k] = f(Math.sin(a));
      out[i * dim + pe + k] = f(Math.cos(a));
    }
  }
  return out;
}

/**
 * PositionEmbeddingRandom's encoding of points already normalized to [0, 1]: coords [n, 2] (x, y) →
 * [n, 2F] = [sin(2π (2c - 1) G), cos(...)] with G the [2, F] Gaussian matrix.
 */
export function randomFourierEncode(coords01: ArrayLike<number>, gaussian: Float32Array): Float32Array {
  const F = gaussian.length / 2;
  const n = coords01.length / 2;
  const out = new Float32Array(n * 2 * F);
  const twoPi = f(2 * Math.PI);
  for (let i = 0; i < n; i++) {
    const cx = f(f(2 * coords01[2 * i]) - 1);
    const cy = f(f(2 * coords01[2 * i + 1]) - 1);
    for (let k = 0; k < F; k++) {
      const a = f(twoPi * f(f(cx * gaussian[k]) + f(cy * gaussian[F + k])));
      out[i * 2 * F + k] = f(Math.sin(a));
      out[i * 2 * F + F + k] = f(Math.cos(a));
    }
  }
  return out;
}

/** PositionEmbeddingRandom.forward((h, w)): the dense encoding [2F, h, w] of pixel centres. */
export function randomFourierGrid(gaussian: Float32Array, h: number, w: number): Float32Array {
  const F = gaussian.length / 2;
  const coords = new Float32Array(h * w * 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // cumsum of ones - 0.5, divided by the size, in f32.
      coords[2 * (y * w + x)] = f(f(x + 0.5) / w);
      coords[2 * (y * w + x) + 1] = f(f(y + 0.5) / h);
    }
  }
  const enc = randomFourierEncode(coords, gaussian);
  const out = new Float32Array(2 * F * h * w);
  for (let p = 0; p < h * w; p++) for (let c = 0; c < 2 * F; c++) out[c * h * w + p] = enc[p * 2 * F + c];
  return out;
}

/**
 * PositionEmbeddingRandom.forward_with_coords: points in input-image pixels (x, y), normalized by the
 * image size [H, W] (x by W, y by H) then encoded: [n, 2F].
 */
export function randomFourierPoints(coords: ArrayLike<number>, gaussian: Float32Array, imageH: number, imageW: number): Float32Array {
  const n = coords.length / 2;
  const norm = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    norm[2 * i] = f(coords[2 * i] / imageW);
    norm[2 * i + 1] = f(coords[2 * i + 1] / imageH);
  }
  return randomFourierEncode(norm, gaussian);
}
