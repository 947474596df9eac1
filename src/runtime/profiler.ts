/**
 * Per-kernel GPU time. With `timestamp-query`, every dispatch runs in its own compute pass with timestamp
 * writes and the times are resolved per batch; without it, each dispatch is submitted alone and timed on the
 * wall clock until the queue is done (slower, but attributes time per kernel all the same).
 */

export interface KernelTime {
  kernel: string;
  calls: number;
  totalMs: number;
}

export class Profiler {
  enabled = false;
  private totals = new Map<string, { calls: number; ns: number }>();
  private pending: Promise<void>[] = [];

  constructor(readonly mode: 'timestamp' | 'wall') {}

  add(kernel: string, ns: number): void {
    let t = this.totals.get(kernel);
    if (!t) this.totals.set(kernel, (t = { calls: 0, ns: 0 }));
    t.calls++;
    t.ns += ns;
  }

  track(p: Promise<void>): void {
    this.pending.push(p);
  }

  /** Waits for outstanding measurements and returns the totals, slowest first. */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.pending.splice(0));
    return [...this.totals.entries()]
      .map(([kernel, t]) => ({ kernel, calls: t.calls, totalMs: t.ns / 1e6 }))
      .sort((a, b) => b.totalMs - a.totalMs);
  }

  reset(): void {
    this.totals.clear();
  }

  static format(rows: KernelTime[]): string {
    const total = rows.reduce((a, r) => a + r.totalMs, 0) || 1;
    const lines = rows.map(
      (r) =>
        `${r.kernel.padEnd(28)} ${String(r.calls).padStart(6)} ${r.totalMs.toFixed(3).padStart(12)} ms ${((100 * r.totalMs) / total).toFixed(1).padStart(6)}%`,
    );
    return [`${'kernel'.padEnd(28)} ${'calls'.padStart(6)} ${'time'.padStart(15)} ${'share'.padStart(7)}`, ...lines].join('\n');
  }
}
