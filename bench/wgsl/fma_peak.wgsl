// Baseline kernels for benchmarks.
//
// noop: does no work; one dispatch of it measures the fixed cost of a dispatch (record, submit, wait).
// fma_peak: CHAINS independent vec4 multiply-add chains per invocation (written out, no arrays, so they stay
//   in registers), `iters` rounds of 4 steps each, so no step waits on the previous one's result;
//   2 * 4 * 4 * CHAINS * iters flops per invocation. The chains' sum is stored so the compiler cannot drop
//   them. Estimates the adapter's peak f32 FMA throughput, the ceiling for compute-bound kernels. (lavapipe
//   lowers fma to a multiply and an add; the matmul kernels use fma as well, so the two compare like with like.)
// Defines: WG (workgroup size), CHAINS (independent vec4 accumulators, 1..16).
#include "common.wgsl"

struct Params { iters: u32, m: f32, c: f32, n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
#tensor y 1 write f32

@compute @workgroup_size(1)
fn noop(@builtin(global_invocation_id) gid: vec3<u32>) {
  // Never true (n is 0); keeps the bindings live.
  if (gid.x < P.n) { st_y(gid.x, P.m); }
}

@compute @workgroup_size(WG)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_id(gid, nwg, WG);
  let s = vec4<f32>(f32(id & 1023u) * 1.0e-6);
  let m = vec4<f32>(P.m, P.m * 0.999, P.m * 0.998, P.m * 0.997);
  let c = vec4<f32>(P.c);
  var a0 = s;
#if CHAINS > 1
  var a1 = s + 1.0e-3;
#endif
#if CHAINS > 2
  var a2 = s + 2.0e-3;
#endif
#if CHAINS > 3
  var a3 = s + 3.0e-3;
#endif
#if CHAINS > 4
  var a4 = s + 4.0e-3;
#endif
#if CHAINS > 5
  var a5 = s + 5.0e-3;
#endif
#if CHAINS > 6
  var a6 = s + 6.0e-3;
#endif
#if CHAINS > 7
  var a7 = s + 7.0e-3;
#endif
#if CHAINS > 8
  var a8 = s + 8.0e-3;
#endif
#if CHAINS > 9
  var a9 = s + 9.0e-3;
#endif
#if CHAINS > 10
  var a10 = s + 10.0e-3;
#endif
#if CHAINS > 11
  var a11 = s + 11.0e-3;
#endif
#if CHAINS > 12
  var a12 = s + 12.0e-3;
#endif
#if CHAINS > 13
  var a13 = s + 13.0e-3;
#endif
#if CHAINS > 14
  var a14 = s + 14.0e-3;
#endif
#if CHAINS > 15
  var a15 = s + 15.0e-3;
#endif
  for (var i = 0u; i < P.iters; i++) {
    a0 = fma(a0, m, c);
#if CHAINS > 1
    a1 = fma(a1, m, c);
#endif
#if CHAINS > 2
    a2 = fma(a2, m, c);
#endif
#if CHAINS > 3
    a3 = fma(a3, m, c);
#endif
#if CHAINS > 4
    a4 = fma(a4, m, c);
#endif
#if CHAINS > 5
    a5 = fma(a5, m, c);
#endif
#if CHAINS > 6
    a6 = fma(a6, m, c);
#endif
#if CHAINS > 7
    a7 = fma(a7, m, c);
#endif
#if CHAINS > 8
    a8 = fma(a8, m, c);
#endif
#if CHAINS > 9
    a9 = fma(a9, m, c);
#endif
#if CHAINS > 10
    a10 = fma(a10, m, c);
#endif
#if CHAINS > 11
    a11 = fma(a11, m, c);
#endif
#if CHAINS > 12
    a12 = fma(a12, m, c);
#endif
#if CHAINS > 13
    a13 = fma(a13, m, c);
#endif
#if CHAINS > 14
    a14 = fma(a14, m, c);
#endif
#if CHAINS > 15
    a15 = fma(a15, m, c);
#endif
    a0 = fma(a0, m, c);
#if CHAINS > 1
    a1 = fma(a1, m, c);
#endif
#if CHAINS > 2
    a2 = fma(a2, m, c);
#endif
#if CHAINS > 3
    a3 = fma(a3, m, c);
#endif
#if CHAINS > 4
    a4 = fma(a4, m, c);
#endif
#if CHAINS > 5
    a5 = fma(a5, m, c);
#endif
#if CHAINS > 6
    a6 = fma(a6, m, c);
#endif
#if CHAINS > 7
    a7 = fma(a7, m, c);
#endif
#if CHAINS > 8
    a8 = fma(a8, m, c);
#endif
#if CHAINS > 9
    a9 = fma(a9, m, c);
#endif
#if CHAINS > 10
    a10 = fma(a10, m, c);
#endif
#if CHAINS > 11
    a11 = fma(a11, m, c);
#endif
#if CHAINS > 12
    a12 = fma(a12, m, c);
#endif
#if CHAINS > 13
    a13 = fma(a13, m, c);
#endif
#if CHAINS > 14
    a14 = fma(a14, m, c);
#endif
#if CHAINS > 15
    a15 = fma(a15, m, c);
#endif
    a0 = fma(a0, m, c);
#if CHAINS > 1
    a1 = fma(a1, m, c);
#endif
#if CHAINS > 2
    a2 = fma(a2, m, c);
#endif
#if CHAINS > 3
    a3 = fma(a3, m, c);
#endif
#if CHAINS > 4
    a4 = fma(a4, m, c);
#endif
#if CHAINS > 5
    a5 = fma(a5, m, c);
#endif
#if CHAINS > 6
    a6 = fma(a6, m, c);
#endif
#if CHAINS > 7
    a7 = fma(a7, m, c);
#endif
#if CHAINS > 8
    a8 = fma(a8, m, c);
#endif
#if CHAINS > 9
    a9 = fma(a9, m, c);
#endif
#if CHAINS > 10
    a10 = fma(a10, m, c);
#endif
#if CHAINS > 11
    a11 = fma(a11, m, c);
#endif
#if CHAINS > 12
    a12 = fma(a12, m, c);
#endif
#if CHAINS > 13
    a13 = fma(a13, m, c);
#endif
#if CHAINS > 14
    a14 = fma(a14, m, c);
#endif
#if CHAINS > 15
    a15 = fma(a15, m, c);
#endif
    a0 = fma(a0, m, c);
#if CHAINS > 1
    a1 = fma(a1, m, c);
#endif
#if CHAINS > 2
    a2 = fma(a2, m, c);
#endif
#if CHAINS > 3
    a3 = fma(a3, m, c);
#endif
#if CHAINS > 4
    a4 = fma(a4, m, c);
#endif
#if CHAINS > 5
    a5 = fma(a5, m, c);
#endif
#if CHAINS > 6
    a6 = fma(a6, m, c);
#endif
#if CHAINS > 7
    a7 = fma(a7, m, c);
#endif
#if CHAINS > 8
    a8 = fma(a8, m, c);
#endif
#if CHAINS > 9
    a9 = fma(a9, m, c);
#endif
#if CHAINS > 10
    a10 = fma(a10, m, c);
#endif
#if CHAINS > 11
    a11 = fma(a11, m, c);
#endif
#if CHAINS > 12
    a12 = fma(a12, m, c);
#endif
#if CHAINS > 13
    a13 = fma(a13, m, c);
#endif
#if CHAINS > 14
    a14 = fma(a14, m, c);
#endif
#if CHAINS > 15
    a15 = fma(a15, m, c);
#endif
  }
  var t = a0;
#if CHAINS > 1
  t += a1;
#endif
#if CHAINS > 2
  t += a2;
#endif
#if CHAINS > 3
  t += a3;
#endif
#if CHAINS > 4
  t += a4;
#endif
#if CHAINS > 5
  t += a5;
#endif
#if CHAINS > 6
  t += a6;
#endif
#if CHAINS > 7
  t += a7;
#endif
#if CHAINS > 8
  t += a8;
#endif
#if CHAINS > 9
  t += a9;
#endif
#if CHAINS > 10
  t += a10;
#endif
#if CHAINS > 11
  t += a11;
#endif
#if CHAINS > 12
  t += a12;
#endif
#if CHAINS > 13
  t += a13;
#endif
#if CHAINS > 14
  t += a14;
#endif
#if CHAINS > 15
  t += a15;
#endif
  if (id < P.n) { st_y(id, t.x + t.y + t.z + t.w); }
}
