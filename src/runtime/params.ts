/** Builds a kernel's uniform block: scalar u32 / i32 / f32 fields in declaration order, padded to 16 bytes. */
export class Params {
  private words: number[] = [];
  private kinds: Array<'u' | 'i' | 'f'> = [];

  u32(...v: number[]): this {
    for (const x of v) {
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`u32 uniform out of range: ${x}`);
      this.words.push(x);
      this.kinds.push('u');
    }
    return this;
  }

  i32(...v: number[]): this {
    for (const x of v) {
      if (!Number.isInteger(x)) throw new RangeError(`i32 uniform not an integer: ${x}`);
      this.words.push(x);
      this.kinds.push('i');
    }
    return this;
  }

  f32(...v: number[]): this {
    for (const x of v) {
      this.words.push(x);
      this.kinds.push('f');
    }
    return this;
  }

  get byteLength(): number {
    return Math.max(16, Math.ceil((this.words.length * 4) / 16) * 16);
  }

  writeTo(view: DataView, offset: number): void {
    for (let i = 0; i < this.words.length; i++) {
      const o = offset + i * 4;
      const k = this.kinds[i];
      if (k === 'f') view.setFloat32(o, this.words[i], true);
      else if (k === 'i') view.setInt32(o, this.words[i], true);
      else view.setUint32(o, this.words[i], true);
    }
  }
}
