/** Element types of tensors on the GPU and their host conversions. */

export type DType = 'f32' | 'f16' | 'bf16' | 'u32' | 'i32';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, u32: 4, i32: 4 };

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** f32 → IEEE half bits, round to nearest even (as WGSL's f16() / pack2x16float on common hardware). */
export function f32ToF16Bits(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (m & 1))) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 → bf16 bits, round to nearest even (as PyTorch's .to(torch.bfloat16)). */
export function f32ToBf16Bits(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff; // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0];
}

/** Rounds every value through the given storage type (f32 data that an f16 tensor would hold). */
export function roundTo(dtype: DType, data: Float32Array): Float32Array {
  if (dtype === 'f32') return data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    out[i] = dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(data[i])) : bf16BitsToF32(f32ToBf16Bits(data[i]));
  }
  return out;
}

/** Encodes f32 values as the bytes of `dtype`. */
export function encodeF32(dtype: DType, data: ArrayLike<number>): Uint8Array {
  const n = data.length;
  switch (dtype) {
    case 'f32':
      return new Uint8Array(Float32Array.from(data).buffer);
    case 'f16':
    case 'bf16': {
      const out = new Uint16Array(n);
      const conv = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < n; i++) out[i] = conv(data[i]);
      return new Uint8Array(out.buffer);
    }
    case 'u32':
      return new Uint8Array(Uint32Array.from(data).buffer);
    case 'i32':
      return new Uint8Array(Int32Array.from(data).buffer);
  }
}

/** Decodes bytes of `dtype` into f32 values (u32 / i32 converted by value). */
export function decodeToF32(dtype: DType, bytes: Uint8Array, n: number): Float32Array {
  const ab = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'f32':
      return new Float32Array(ab.buffer, ab.byteOffset, n).slice();
    case 'f16':
    case 'bf16': {
      const h = new Uint16Array(ab.buffer, ab.byteOffset, n);
      const out = new Float32Array(n);
      const conv = dtype === 'f16' ? f16BitsToF32 : bf16BitsToF32;
      for (let i = 0; i < n; i++) out[i] = conv(h[i]);
      return out;
    }
    case 'u32':
      return Float32Array.from(new Uint32Array(ab.buffer, ab.byteOffset, n));
    case 'i32':
      return Float32Array.from(new Int32Array(ab.buffer, ab.byteOffset, n));
  }
}
