/**
 * Byte helpers shared by the file readers and writers (safetensors, the checkpoint zip and pickle, PNG):
 * copies, alignment, typed views, concatenation, CRC-32 and hex. Platform-neutral.
 */

/**
 * A fresh copy in its own ArrayBuffer (offset 0). Not `.slice()`: on a Node Buffer that returns a view, and
 * Buffer copies may come from a shared pool at any offset.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

/** `bytes` itself when its byteOffset is a multiple of `align`, else an aligned copy. */
export function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : copyBytes(bytes);
}

interface TypedArrayOf<T> {
  readonly BYTES_PER_ELEMENT: number;
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
}

/**
 * `bytes` read as little-endian elements of `type` (a view when `bytes` is aligned, else a view of an
 * aligned copy); `length` elements, all that fit by default.
 */
export function viewAs<T>(type: TypedArrayOf<T>, bytes: Uint8Array, length = Math.floor(bytes.length / type.BYTES_PER_ELEMENT)): T {
  const a = aligned(bytes, type.BYTES_PER_ELEMENT);
  return new type(a.buffer as ArrayBuffer, a.byteOffset, length);
}

/** The parts one after another in a new buffer. */
export function concatBytes(parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zip and PNG use it). */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An unsigned 32-bit value as 8 lowercase hex digits. */
export function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
