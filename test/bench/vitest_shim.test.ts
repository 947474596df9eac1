/**
 * The device kit runs the kernel and parity test files through bench/gpu/vitest_shim.ts instead of vitest: a
 * check that cannot fail there would report a broken GPU as correct. These tests run the shim on small test
 * files of their own and check that it fails what vitest fails, skips what vitest skips, and passes the rest.
 */
import { describe, expect, it } from 'vitest';
import { blocking } from '../../bench/gpu/report.js';
import * as shim from '../../bench/gpu/vitest_shim.js';

/** Collects and runs `body` (which registers tests through the shim, as a test file's top level would). */
async function run(body: () => void) {
  const root = await shim.collectFile('test/kernels/example.test.ts', async () => body());
  return shim.runFile(root, 'kernels/example');
}

const statuses = (outcomes: shim.TestOutcome[]) => Object.fromEntries(outcomes.map((o) => [o.name, o.status]));

describe('the kit’s vitest shim', () => {
  it('fails each matcher that does not hold, and passes the ones that do', async () => {
    const out = await run(() => {
      shim.describe('m', () => {
        shim.it('toBe', () => shim.expect(1).toBe(2));
        shim.it('toEqual', () => shim.expect([1, { a: 2 }]).toEqual([1, { a: 3 }]));
        shim.it('toEqual typed', () => shim.expect(new Float32Array([1, 2])).toEqual(new Float32Array([1, 2.5])));
        shim.it('toBeCloseTo', () => shim.expect(0.1 + 0.2).toBeCloseTo(0.4, 5));
        shim.it('toBeLessThan', () => shim.expect(3).toBeLessThan(3));
        shim.it('toBeGreaterThan', () => shim.expect(3).toBeGreaterThan(3));
        shim.it('toThrow none', () => shim.expect(() => 1).toThrow());
        shim.it('toThrow wrong message', () => shim.expect(() => { throw new Error('abc'); }).toThrow(/xyz/));
        shim.it('toThrow wrong class', () => shim.expect(() => { throw new Error('abc'); }).toThrow(RangeError));
        shim.it('not.toBe', () => shim.expect(1).not.toBe(1));
        shim.it('message', () => shim.expect(false, 'cosine below 0.999').toBe(true));
        shim.it('passes', () => {
          shim.expect(1).toBe(1);
          shim.expect({ a: [1, 2], b: undefined }).toEqual({ a: [1, 2] });
          shim.expect(new Float32Array([1, 2])).toEqual(new Float32Array([1, 2]));
          shim.expect(0.1 + 0.2).toBeCloseTo(0.3, 10);
          shim.expect(() => { throw new RangeError('out of range'); }).toThrow(RangeError);
          shim.expect(() => { throw new Error('out of range'); }).toThrow(/of range/);
          shim.expect(() => { throw new Error('out of range'); }).toThrow('out of');
          shim.expect(2).not.toBe(1);
          shim.expect(2).toBeLessThan(3);
        });
      });
    });
    const s = statuses(out);
    expect(Object.keys(s)).toHaveLength(12);
    for (const [name, status] of Object.entries(s)) expect([name, status]).toEqual([name, name === 'm > passes' ? 'passed' : 'failed']);
    expect(out.find((o) => o.name === 'm > message')!.error).toMatch(/^cosine below 0\.999: expected false to be true/);
  });

  it('collects async describe bodies in order, runs hooks around them, and reports skips and hook failures', async () => {
    const order: string[] = [];
    const out = await run(() => {
      shim.beforeAll(() => void order.push('file beforeAll'));
      shim.afterAll(() => void order.push('file afterAll'));
      shim.describe('a', async () => {
        await new Promise((r) => setTimeout(r, 5));
        shim.it('after an await', async () => {
          await new Promise((r) => setTimeout(r, 1));
          order.push('a test');
        });
        shim.describe('nested', () => {
          shim.it('skips', (ctx) => {
            ctx.skip();
            order.push('not reached');
          });
        });
      });
      shim.describe('b', () => {
        shim.beforeAll(() => {
          throw new Error('no fixture');
        });
        shim.it('one', () => {});
        shim.it('two', () => {});
      });
      shim.it('path', () => shim.expect(shim.expect.getState().testPath).toBe('test/kernels/example.test.ts'));
    });
    expect(statuses(out)).toEqual({ 'a > after an await': 'passed', 'a > nested > skips': 'skipped', 'b > one': 'failed', 'b > two': 'failed', path: 'passed' });
    expect(out.find((o) => o.name === 'b > one')!.error).toBe('beforeAll: no fixture');
    expect(order).toEqual(['file beforeAll', 'a test', 'file afterAll']);
  });

  it('the kit stops on any failure but an f16 parity check above its bound', () => {
    const failed = (error: string) => ({ status: 'failed', error });
    const f16 = [
      failed('box.singlemask.iou_pred (f16): cosine 1.000000000, max|Δ|/max|ref| 3.022e-4 (worst at 0: got 0.55, want 0.55): above the bound 0.00013 (measured 0.0000159): expected false to be true'),
      failed('batched box.multimask.iou_pred (f16packed): cosine 0.999999997, max|Δ|/max|ref| 2.3e-4 (worst at 0): 1 − cosine 2.546e-9 above the bound 1.5e-9 (measured 1.8e-10): expected false to be true'),
      failed('x (f16): cosine 0.998, max|Δ|/max|ref| 1e-2 (worst at 3): cosine below 0.999: expected false to be true'),
    ];
    expect(blocking(f16)).toEqual([]);
    const stop = [
      failed('box.singlemask.iou_pred (f32): cosine 0.99, max|Δ|/max|ref| 3e-2 (worst at 0): above the bound 0.00013 (measured 1e-6): expected false to be true'),
      failed('x (f16): cosine NaN, max|Δ|/max|ref| NaN (worst at 0): not finite: expected false to be true'),
      failed('f16 M=33 N=7 K=9: max|Δ| 1.2e-1 at 4 (got 1, want 2) > 0.01 × max|ref| 2.0'),
      failed('beforeAll: no fixture'),
    ];
    expect(blocking([...f16, ...stop, { status: 'passed' }, { status: 'skipped', error: 'skipped' }])).toEqual(stop);
  });
});
