import { describe, expect, it } from 'vitest';
import { unary, type UnaryOp } from '../../src/kernels/elementwise.js';
import { unaryRef } from '../../src/kernels/elementwise.ref.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

describe('unary elementwise', async () => {
  const vs = await variants();
  const sizes = [1, 3, 7, 1001, 4096 + 5];
  for (const v of vs) {
    for (const op of ['identity', 'gelu', 'relu', 'sigmoid'] as UnaryOp[]) {
      it(`${op} ${v.name}`, async () => {
        for (const n of sizes) {
          const x = asStored(v, rand(n, n * 7 + 1, -6, 6));
          const tx = v.gpu.upload(x, [n], v.dtype);
          const ty = unary(v.gpu, tx, op, { scale: 1.5, bias: -0.25 });
          const got = await v.gpu.read(ty);
          expectClose(got, asStored(v, unaryRef(x, op, 1.5, -0.25)), v.tol, `${op} n=${n}`);
          tx.release();
          ty.release();
        }
      });
    }
  }
  it('rejects mismatched out', async () => {
    const g = vs[0].gpu;
    const x = g.upload(rand(8, 1), [8]);
    const y = g.empty([7]);
    expect(() => unary(g, x, 'relu', { out: y })).toThrow(/does not match/);
  });
});
