/**
 * The parity bounds table (test/parity_bounds.json) follows its rule, and the README's parity table is the one
 * generated from it (scripts/parity-bounds.mjs), so what the README says is what the tests enforce.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without types
import { boundOf, FACTOR, FLOORS, problems, readTable } from '../scripts/parity-bounds.mjs';

describe('parity bounds', () => {
  it('every bound is FACTOR × its measured error rounded up to two digits, or the floor; the README table is generated from them', () => {
    expect(problems()).toEqual([]);
  });

  it('no bound is above 10× its measured error unless the measured error is below the floor', () => {
    const table = readTable() as { checks: Record<string, Record<string, Record<string, { rel: number; cos: number; measured: { rel: number; cos: number } }>>> };
    let n = 0;
    for (const [file, byName] of Object.entries(table.checks)) {
      for (const [name, byVariant] of Object.entries(byName)) {
        for (const [variant, e] of Object.entries(byVariant)) {
          for (const k of ['rel', 'cos'] as const) {
            const floor = (FLOORS as Record<string, Record<string, number>>)[variant][k];
            const ok = e[k] <= 10 * e.measured[k] || (FACTOR * e.measured[k] <= floor && e[k] === boundOf(0, floor));
            expect(ok, `${file} ${name} (${variant}) ${k}: bound ${e[k]}, measured ${e.measured[k]}`).toBe(true);
            n++;
          }
        }
      }
    }
    expect(n).toBeGreaterThan(100);
  });
});
