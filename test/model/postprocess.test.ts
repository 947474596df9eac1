import { describe, expect, it } from 'vitest';
import { applyNonOverlappingConstraints, fillHolesInMaskScores } from '../../src/model/postprocess.js';

describe('fillHolesInMaskScores', () => {
  it('fills background components up to maxArea with 0.1, 8-connected, and leaves larger ones', () => {
    const H = 8;
    const W = 8;
    const m = new Float32Array(H * W).fill(5);
    // a 2x2 hole (area 4) and a diagonal pair (8-connected: one component of area 2)
    for (const [y, x] of [[1, 1], [1, 2], [2, 1], [2, 2]]) m[y * W + x] = -3;
    m[5 * W + 5] = -1;
    m[6 * W + 6] = 0; // <= 0 counts as background
    // a large background region: the last row (area 8) must stay
    for (let x = 0; x < W; x++) m[7 * W + x] = -2;
    m[6 * W + 6] = 5; // break contact with the last row
    m[6 * W + 6] = 0;
    const filled = fillHolesInMaskScores(m, H, W, 4);
    expect(m[1 * W + 1]).toBeCloseTo(0.1);
    expect(m[2 * W + 2]).toBeCloseTo(0.1);
    // 5,5 / 6,6 / row 7 touch diagonally: one component of 10 > 4, kept
    expect(m[5 * W + 5]).toBe(-1);
    expect(m[7 * W + 0]).toBe(-2);
    expect(filled).toBe(4);
  });

  it('rejects a non-positive area and a size mismatch', () => {
    expect(() => fillHolesInMaskScores(new Float32Array(4), 2, 2, 0)).toThrow(/maxArea/);
    expect(() => fillHolesInMaskScores(new Float32Array(3), 2, 2, 8)).toThrow(/3 values/);
  });
});

describe('applyNonOverlappingConstraints', () => {
  it('keeps only the best object per pixel and clamps the others to -10', () => {
    const a = Float32Array.from([3, -20, 1]);
    const b = Float32Array.from([2, -30, 4]);
    applyNonOverlappingConstraints([a, b]);
    expect(Array.from(a)).toEqual([3, -20, -10]);
    expect(Array.from(b)).toEqual([-10, -30, 4]);
  });
});
