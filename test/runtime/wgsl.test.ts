import { describe, expect, it } from 'vitest';
import { evalExpr, preprocess, registerWgsl } from '../../src/runtime/wgsl.js';

const src = {
  'a.wgsl': '#include "b.wgsl"\n#include "b.wgsl"\n#define TILE 4\n#if TILE * 2 == 8 && !F16\nlet t = TILE;\n#elif F16_NATIVE\nlet h = 1;\n#else\nlet p = 2;\n#endif\n',
  'b.wgsl': 'fn b() {}',
  't.wgsl': '#tensor x 1 read\n#tensor y 2 write\n#tensor m 3 read bf16\n#tensor n 4 read bf16\n#tensor idx 5 read u32',
};

describe('WGSL preprocessor', () => {
  it('includes once, defines, and evaluates #if chains per mode', () => {
    const f32 = preprocess('a.wgsl', src, { mode: 'f32' });
    expect(f32.match(/fn b\(\)/g)?.length).toBe(1);
    expect(f32).toContain('let t = 4;');
    const f16 = preprocess('a.wgsl', src, { mode: 'f16' });
    expect(f16.startsWith('enable f16;')).toBe(true);
    expect(f16).toContain('let h = 1;');
    expect(preprocess('a.wgsl', src, { mode: 'f16packed' })).toContain('let p = 2;');
  });

  it('defines passed in override #define defaults', () => {
    expect(preprocess('a.wgsl', src, { mode: 'f32', defines: { TILE: 8 } })).toContain('let p = 2;');
  });

  it('declares tensors with the storage type of the mode', () => {
    expect(preprocess('t.wgsl', src, { mode: 'f32' })).toContain('var<storage, read> x: array<f32>');
    expect(preprocess('t.wgsl', src, { mode: 'f16' })).toContain('var<storage, read> x: array<f16>');
    const p = preprocess('t.wgsl', src, { mode: 'f16packed' });
    expect(p).toContain('var<storage, read> x: array<u32>');
    expect(p).toContain('var<storage, read_write> y: array<atomic<u32>>');
    expect(p.match(/fn bf16x2_unpack/g)?.length).toBe(1);
    expect(p).toContain('var<storage, read> idx: array<u32>');
  });

  it('reports unknown directives, unbalanced #if and missing files with their location', () => {
    expect(() => preprocess('x.wgsl', { 'x.wgsl': '#pragma foo' }, { mode: 'f32' })).toThrow(/x.wgsl:1: unknown directive #pragma/);
    expect(() => preprocess('x.wgsl', { 'x.wgsl': '#if 1\n' }, { mode: 'f32' })).toThrow(/unterminated #if/);
    expect(() => preprocess('x.wgsl', { 'x.wgsl': '#include "nope.wgsl"' }, { mode: 'f32' })).toThrow(/not embedded: nope.wgsl/);
  });

  it('evaluates expressions with precedence', () => {
    const d = new Map([['A', '3'], ['B', '0']]);
    expect(evalExpr('A + 2 * 3', d)).toBe(9);
    expect(evalExpr('(A + 2) * 3 == 15 && !B', d)).toBe(1);
    expect(evalExpr('A > 3 || B', d)).toBe(0);
    expect(evalExpr('UNDEFINED', d)).toBe(0);
  });
});

describe('WGSL preprocessor accessors', () => {
  it('do not collide with short tensor names', () => {
    for (const mode of ['f32', 'f16', 'f16packed'] as const) {
      const out = preprocess('t.wgsl', { 't.wgsl': '#tensor w 1 read\n#tensor v4w 4 read vec4\n#tensor old 2 write\n#tensor b 3 read bf16\n#tensor q 5 read vec4\n#tensor v 6 write vec4' }, { mode });
      // accessor locals use a reserved-looking prefix, so tensors called w / old never shadow them
      expect(out).not.toMatch(/let w = |var old = /);
      // nor do tensors called q / v shadow the quad accessors' parameters
      expect(out).not.toMatch(/\bq\[q\]|\bv\[q\]|= v;/);
    }
  });
});

describe('WGSL preprocessor vec4 tensors and binding expressions', () => {
  const v = { 'v.wgsl': '#tensor x 1 read vec4\n#tensor a 2 read pairs vec4\n#tensor y 1+X+BIAS write vec4' };

  it('binds quads in each mode, pairs as u32 pairs in both f16 modes', () => {
    const f32 = preprocess('v.wgsl', v, { mode: 'f32', defines: { X: 1, BIAS: 1 } });
    expect(f32).toContain('@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;');
    expect(f32).toContain('var<storage, read> a: array<vec4<f32>>;');
    expect(f32).toContain('@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;');
    expect(f32).toMatch(/fn ldq_x\(_q: u32\)/);
    expect(f32).toMatch(/fn stq_y\(_q: u32, _v: vec4<f32>\) \{ y\[_q\] = _v; \}/);
    const f16 = preprocess('v.wgsl', v, { mode: 'f16', defines: { X: 0, BIAS: 0 } });
    expect(f16).toContain('var<storage, read> x: array<vec4<f16>>;');
    expect(f16).toContain('var<storage, read> a: array<vec2<u32>>;');
    expect(f16).toContain('@group(0) @binding(1) var<storage, read_write> y: array<vec4<f16>>;');
    const packed = preprocess('v.wgsl', v, { mode: 'f16packed', defines: { X: 1, BIAS: 0 } });
    expect(packed).toContain('var<storage, read> x: array<vec2<u32>>;');
    expect(packed).toContain('@group(0) @binding(2) var<storage, read_write> y: array<vec2<u32>>;');
    expect(packed).toContain('pack2x16float(_v.xy), pack2x16float(_v.zw)');
  });

  it('rejects writable pairs and bad bindings', () => {
    expect(() => preprocess('w.wgsl', { 'w.wgsl': '#tensor y 1 write pairs vec4' }, { mode: 'f32' })).toThrow(/read-only/);
    expect(() => preprocess('w.wgsl', { 'w.wgsl': '#tensor y -1 write' }, { mode: 'f32' })).toThrow(/#tensor NAME BINDING/);
  });

  it('finds registered files after the embedded ones', () => {
    registerWgsl({ 'extra_test.wgsl': '#include "b.wgsl"\nfn extra() {}' });
    const out = preprocess('extra_test.wgsl', { 'b.wgsl': 'fn b() {}' }, { mode: 'f32' });
    expect(out).toContain('fn b() {}');
    expect(out).toContain('fn extra() {}');
  });
});
