/** A bounded least-recently-used cache of decoded frames (platform-neutral: Node and browser frame sources). */
import type { Frame } from './frames.js';

export class FrameCache {
  private map = new Map<number, Frame>();
  /** capacity ≤ 0 keeps nothing. */
  constructor(private readonly capacity: number) {}
  get(i: number): Frame | undefined {
    const f = this.map.get(i);
    if (f) {
      this.map.delete(i);
      this.map.set(i, f);
    }
    return f;
  }
  set(i: number, f: Frame): void {
    if (this.capacity <= 0) return;
    this.map.delete(i);
    this.map.set(i, f);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as number);
  }
  clear(): void {
    this.map.clear();
  }
}
