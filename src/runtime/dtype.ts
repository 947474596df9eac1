/**
 * Element types, in one vocabulary, and their host conversions.
 *
 * `DType` is what a tensor on the GPU holds; `ElementType` adds the types only files hold (int64 indices,
 * bytes, bools, float64 in a checkpoint). The file formats spell them their own way (safetensors 'F32',
 * torch 'FloatStorage' / 'float32'); each reader maps its spelling to these names through one table at the
 * point where it parses or writes the file, and nothing else sees the file's spelling.
 *
 * The f32 ↔ f16 / bf16 conversions live here once: scalar for single values, bulk for buffers, both
 * bit-identical (round to nearest even, as torch's .half() / .to(torch.bfloat16) and WGSL's f16()).
 */
import { viewAs } from './bytes.js';

/** Element types of tensors on the GPU. */
export type DType = 'f32' | 'f16' | 'bf16' | 'u32' | 'i32';

/** Every element type the engine names: the GPU's and those that only weight and checkpoint files hold. */
export type ElementType = DType | 'f64' | 'i64' | 'i16' | 'i8' | 'u8' | 'bool';

/** The float storage types weights may come in. */
export type FloatType = 'f32' | 'f16' | 'bf16';

export const ELEMENT_BYTES: Readonly<Record<ElementType, number>> = {
  f64: 8,
  f32: 4,
  f16: 2,
  bf16: 2,
  i64: 8,
  u32: 4,
  i32: 4,
  i16: 2,
  i8: 1,
  u8: 1,
  bool: 1,
};

export const DTYPE_BYTES: Readonly<Record<DType, number>> = ELEMENT_BYTES;

export function isFloatType(t: ElementType): t is FloatType {
  return t === 'f32' || t === 'f16' || t === 'bf16';
}

// ---------------------------------------------------------------------------------------------------------
// f32 ↔ f16 and bf16

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** f32 bit pattern → IEEE half bits, round to nearest even; NaN stays NaN (quiet), overflow → ±inf. */
function halfOfF32Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m; // a carry out of the subnormal mantissa makes the smallest normal, as it should
  }
  // Adding the carry into the exponent field handles mantissa overflow and overflow to infinity.
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** f32 → IEEE half bits, round to nearest even (as WGSL's f16() / pack2x16float on common hardware). */
export function f32ToF16Bits(v: number): number {
  f32buf[0] = v;
  return halfOfF32Bits(u32buf[0]);
}

/** Bulk f32 bit patterns → f16 bits (the same rounding as f32ToF16Bits, and torch's .half()). */
export function f32BitsToF16Bits(src: Uint32Array, out: Uint16Array): void {
  for (let i = 0; i < src.length; i++) out[i] = halfOfF32Bits(src[i]);
}

/** Exact f16 → f32 bit patterns for all 65,536 halves (NaN payloads kept), built on first use. */
let halfTable: Uint32Array | undefined;
let halfValues: Float32Array | undefined;

function f16Table(): Uint32Array {
  if (halfTable) return halfTable;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    let m = h & 0x3ff;
    if (e === 0x1f) table[h] = sign | 0x7f800000 | (m << 13);
    else if (e !== 0) table[h] = sign | ((e + 112) << 23) | (m << 13);
    else if (m === 0) table[h] = sign;
    else {
      let exp = 113;
      while (!(m & 0x400)) {
        m <<= 1;
        exp--;
      }
      table[h] = sign | (exp << 23) | ((m & 0x3ff) << 13);
    }
  }
  halfValues = new Float32Array(table.buffer);
  return (halfTable = table);
}

export function f16BitsToF32(h: number): number {
  f16Table();
  return halfValues![h & 0xffff];
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

/**
 * Converts little-endian float bytes between f32, f16 and bf16 (returns the input when `from === to`).
 * Widening is exact; narrowing to f16 rounds to nearest even; bf16 → f16 goes through f32 (exact, then one
 * rounding). Narrowing to bf16 is not offered: nothing here needs it.
 */
export function convertFloatBytes(from: FloatType, to: 'f32' | 'f16', bytes: Uint8Array): Uint8Array {
  if (from === to) return bytes;
  const n = bytes.length / ELEMENT_BYTES[from];
  let f32: Uint32Array;
  if (from === 'f32') {
    f32 = viewAs(Uint32Array, bytes, n);
  } else {
    const h = viewAs(Uint16Array, bytes, n);
    f32 = new Uint32Array(n);
    if (from === 'f16') {
      const table = f16Table();
      for (let i = 0; i < n; i++) f32[i] = table[h[i]];
    } else for (let i = 0; i < n; i++) f32[i] = h[i] << 16;
  }
  if (to === 'f32') return new Uint8Array(f32.buffer, f32.byteOffset, n * 4);
  const out = new Uint16Array(n);
  f32BitsToF16Bits(f32, out);
  return new Uint8Array(out.buffer);
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

/**
 * Decodes `n` elements of `dtype` (all of `bytes` by default) into f32 values in a fresh buffer: floats
 * exactly (f64 rounded once), integers and bools by value (int64 beyond 2^24 loses precision, as in torch
 * .float()).
 */
export function decodeToF32(dtype: ElementType, bytes: Uint8Array, n = bytes.length / ELEMENT_BYTES[dtype]): Float32Array {
  switch (dtype) {
    case 'f32':
    case 'f16':
    case 'bf16': {
      const f = convertFloatBytes(dtype, 'f32', bytes.subarray(0, n * ELEMENT_BYTES[dtype]));
      return dtype === 'f32' ? viewAs(Float32Array, f, n).slice() : new Float32Array(f.buffer, f.byteOffset, n);
    }
    case 'f64':
      return Float32Array.from(viewAs(Float64Array, bytes, n));
    case 'i64': {
      const v = viewAs(BigInt64Array, bytes, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(v[i]);
      return out;
    }
    case 'u32':
      return Float32Array.from(viewAs(Uint32Array, bytes, n));
    case 'i32':
      return Float32Array.from(viewAs(Int32Array, bytes, n));
    case 'i16':
      return Float32Array.from(viewAs(Int16Array, bytes, n));
    case 'i8':
      return Float32Array.from(viewAs(Int8Array, bytes, n));
    case 'u8':
    case 'bool':
      return Float32Array.from(bytes.subarray(0, n));
  }
}
