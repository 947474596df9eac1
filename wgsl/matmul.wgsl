// Batched matrix product with a fused epilogue:
//   y[z, m, n] = act(alpha * sum_k A[z, m, k] * B[z, k, n] + bias[n]) + residual[z, m, n]
// A is read as A[m, k] = a[offA + m * lda + k] (TRANS_A: a[offA + k * lda + m]); B as B[k, n] = b[offB + k * ldb + n]
// (TRANS_B: b[offB + n * ldb + k]); offA / offB add the batch offsets of up to three batch dimensions (stride 0
// broadcasts). y and residual are contiguous [batch, M, N]. Accumulation is f32 in every storage mode.
//
// Two kernels:
//   main_reg   register-blocked, for CPU adapters (lavapipe). Each invocation owns 4 columns and TM rows
//              (TM/8 groups of 8 rows); all invocations of a workgroup share the rows. With SG == 8, for each
//              group of 8 rows every lane of a subgroup loads one vec4 of A and the lanes share them with
//              subgroupBroadcast, so a value of A is loaded once per subgroup instead of once per lane; with
//              SG == 4 (SwiftShader) every lane loads two. With SG == 1 (no subgroups) each invocation loads
//              its rows itself. B is loaded as vec4s, each lane its own 4 columns.
//   main_tiled shared-memory tiles (64 x 64 per 8 x 8 workgroup, 16 deep, 8 x 8 per invocation), for GPUs.
//
// Defines:
//   TRANS_A, TRANS_B   0 / 1
//   VEC_A, VEC_B       4: the operand's contiguous dimension, lda / ldb, offsets and batch strides are multiples
//                      of 4 and its tensor has a multiple of 4 elements, so it is bound as an array of 4-vectors
//                      (one load per 4 values); 1: scalar loads, any layout
//   BIAS, RESIDUAL     0 / 1 (bindings follow a and b in that order, y is last)
//   STORE              4 when N % 4 == 0, 2 when N is even, else 1: how the epilogue writes a row's 4 values
//   ACT                0 none, 1 GELU (exact erf), 2 ReLU
//   main_reg:   SG (1, 4 or 8), TM (8, 16 or 32), WG (invocations per workgroup, a multiple of SG)
#if SG > 1
enable subgroups;
#endif
#include "common.wgsl"

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  lda: u32, ldb: u32, offA: u32, offB: u32,
  // Batch: z = zbase + workgroup_id.z splits into (i2, i1, i0) with sizes (-, nb1, nb0).
  nb0: u32, nb1: u32, zbase: u32, mbase: u32,
  sa0: u32, sa1: u32, sa2: u32, _p0: u32,
  sb0: u32, sb1: u32, sb2: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

// ---------------------------------------------------------------- bindings and loads
// ld4_a(i) / ld4_b(i): the 4 values at element index i (i % 4 == 0), one vector load when VEC_ == 4;
// ld_a / ld_b: one value. Vector operands read f16 as pairs in u32 words in both f16 modes: lavapipe's loads
// cost per component, so two halves per component halve the cost of a load.
#if VEC_A == 4
#tensor a 1 read pairs vec4
#else
#tensor a 1 read
#endif
#if VEC_B == 4
#tensor b 2 read pairs vec4
#else
#tensor b 2 read
#endif
#if BIAS
#tensor bias 3 read
#endif
#if RESIDUAL
#tensor res 3+BIAS read
#endif
#tensor y 3+BIAS+RESIDUAL write

// ---------------------------------------------------------------- batch offsets and epilogue

struct Batch { a: u32, b: u32, y: u32 }

fn batch_offsets(wz: u32) -> Batch {
  let z = P.zbase + wz;
  let i0 = z % P.nb0;
  let r = z / P.nb0;
  let i1 = r % P.nb1;
  let i2 = r / P.nb1;
  return Batch(P.offA + i0 * P.sa0 + i1 * P.sa1 + i2 * P.sa2, P.offB + i0 * P.sb0 + i1 * P.sb1 + i2 * P.sb2, z * P.M * P.N);
}

fn act(v: f32) -> f32 {
#if ACT == 1
  return gelu(v);
#elif ACT == 2
  return max(v, 0.0);
#else
  return v;
#endif
}

fn act4(v: vec4<f32>) -> vec4<f32> {
#if ACT == 2
  return max(v, vec4<f32>(0.0));
#elif ACT == 1
  return vec4<f32>(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w));
#else
  return v;
#endif
}

// 4 values of a bias / residual row at element i (n = column of i): one vector load when STORE == 4, else
// one by one (values past the row end are read through WebGPU's bounds-checked loads and never stored).
#if BIAS
fn ldv_bias(n: u32) -> vec4<f32> {
#if STORE == 4
  return ld4_bias(n);
#else
  return vec4<f32>(ld_bias(n), ld_bias(n + 1u), ld_bias(n + 2u), ld_bias(n + 3u));
#endif
}
#endif
#if RESIDUAL
fn ldv_res(i: u32) -> vec4<f32> {
#if STORE == 4
  return ld4_res(i);
#else
  return vec4<f32>(ld_res(i), ld_res(i + 1u), ld_res(i + 2u), ld_res(i + 3u));
#endif
}
#endif

// Writes act(alpha * v + bias) + residual to row m (< M), columns n .. n+3 (n < N; columns >= N are dropped).
// STORE: 4 when N % 4 == 0 (whole vectors), 2 when N is even (whole pairs: packed f16 words), 1 otherwise.
fn emit(offY: u32, m: u32, n: u32, v: vec4<f32>) {
  let i = offY + m * P.N + n;
  var o = v * P.alpha;
#if BIAS
  o += ldv_bias(n);
#endif
  o = act4(o);
#if RESIDUAL
  o += ldv_res(i);
#endif
#if STORE == 4
  st4_y(i, o);
#elif STORE == 2
  st2_y(i, o.xy);
  if (n + 2u < P.N) { st2_y(i + 2u, o.zw); }
#else
  st_y(i, o.x);
  if (n + 1u < P.N) { st_y(i + 1u, o.y); }
  if (n + 2u < P.N) { st_y(i + 2u, o.z); }
  if (n + 3u < P.N) { st_y(i + 3u, o.w); }
#endif
}

// ---------------------------------------------------------------- register-blocked kernel (CPU adapters)

// Eight rows (or 8 accumulators) of 4 values: for A, row r holds A[m + r, k .. k + 3].
struct V8 { v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32> }
// B[k + j, n .. n + 3] for j = 0..3.
struct V4 { b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32> }

fn mad(c: vec4<f32>, a: vec4<f32>, b: V4) -> vec4<f32> {
  return fma(vec4<f32>(a.w), b.b3, fma(vec4<f32>(a.z), b.b2, fma(vec4<f32>(a.y), b.b1, fma(vec4<f32>(a.x), b.b0, c))));
}

fn mad8(c: V8, a: V8, b: V4) -> V8 {
  return V8(mad(c.v0, a.v0, b), mad(c.v1, a.v1, b), mad(c.v2, a.v2, b), mad(c.v3, a.v3, b),
            mad(c.v4, a.v4, b), mad(c.v5, a.v5, b), mad(c.v6, a.v6, b), mad(c.v7, a.v7, b));
}

// Zeroes the k-components >= kn (kn < 4 only in the last step when K % 4 != 0).
fn kmask(v: vec4<f32>, kn: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), v, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(kn));
}

// A[m, k .. k+3] (layouts without TRANS_A), indices clamped into the matrix: rows >= M read valid memory and
// their results are never stored; k >= K is masked by the caller.
fn a_along_k(base: u32, m: u32, k: u32) -> vec4<f32> {
  let mm = min(m, P.M - 1u);
#if VEC_A == 4
  return ld4_a(base + mm * P.lda + k);
#else
  let km = P.K - 1u;
  let r = base + mm * P.lda;
  return vec4<f32>(ld_a(r + min(k, km)), ld_a(r + min(k + 1u, km)), ld_a(r + min(k + 2u, km)), ld_a(r + min(k + 3u, km)));
#endif
}

// A[m .. m+3, k] (TRANS_A layouts only): 4 values along m.
fn a_along_m(base: u32, m: u32, k: u32) -> vec4<f32> {
  let kk = min(k, P.K - 1u);
#if VEC_A == 4
  return ld4_a(base + kk * P.lda + min(m, P.M - 4u));
#else
  let mm = P.M - 1u;
  let r = base + kk * P.lda;
  return vec4<f32>(ld_a(r + min(m, mm)), ld_a(r + min(m + 1u, mm)), ld_a(r + min(m + 2u, mm)), ld_a(r + min(m + 3u, mm)));
#endif
}

// 8 rows from the columns of two 4 × 4 blocks: row i is (c0[i], c1[i], c2[i], c3[i]), row 4 + i (d0[i], .., d3[i]).
fn rows_of_columns(c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>, d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>) -> V8 {
  return V8(vec4<f32>(c0.x, c1.x, c2.x, c3.x), vec4<f32>(c0.y, c1.y, c2.y, c3.y), vec4<f32>(c0.z, c1.z, c2.z, c3.z), vec4<f32>(c0.w, c1.w, c2.w, c3.w),
            vec4<f32>(d0.x, d1.x, d2.x, d3.x), vec4<f32>(d0.y, d1.y, d2.y, d3.y), vec4<f32>(d0.z, d1.z, d2.z, d3.z), vec4<f32>(d0.w, d1.w, d2.w, d3.w));
}

// Rows m .. m+7 of A at k .. k+3 (kn valid k's). lane: this invocation's subgroup lane.
fn fetch_a(base: u32, m: u32, k: u32, kn: u32, lane: u32) -> V8 {
#if SG == 4
#if TRANS_A
  // Lane l holds A[m + i, k + l] (av) and A[m + 4 + i, k + l] (bv) for i = 0..3.
  let z = vec4<f32>(0.0);
  let av = select(z, a_along_m(base, m, k + lane), lane < kn);
  let bv = select(z, a_along_m(base, m + 4u, k + lane), lane < kn);
  return rows_of_columns(subgroupBroadcast(av, 0u), subgroupBroadcast(av, 1u), subgroupBroadcast(av, 2u), subgroupBroadcast(av, 3u),
                         subgroupBroadcast(bv, 0u), subgroupBroadcast(bv, 1u), subgroupBroadcast(bv, 2u), subgroupBroadcast(bv, 3u));
#else
  // Lane l holds rows m + l and m + 4 + l.
  let av = kmask(a_along_k(base, m + lane, k), kn);
  let bv = kmask(a_along_k(base, m + 4u + lane, k), kn);
  return V8(subgroupBroadcast(av, 0u), subgroupBroadcast(av, 1u), subgroupBroadcast(av, 2u), subgroupBroadcast(av, 3u),
            subgroupBroadcast(bv, 0u), subgroupBroadcast(bv, 1u), subgroupBroadcast(bv, 2u), subgroupBroadcast(bv, 3u));
#endif
#elif SG > 1
#if TRANS_A
  // Lane l holds A[m + 4 (l >> 2) + i, k + (l & 3)] for i = 0..3.
  let av = select(vec4<f32>(0.0), a_along_m(base, m + 4u * (lane >> 2u), k + (lane & 3u)), (lane & 3u) < kn);
  return rows_of_columns(subgroupBroadcast(av, 0u), subgroupBroadcast(av, 1u), subgroupBroadcast(av, 2u), subgroupBroadcast(av, 3u),
                         subgroupBroadcast(av, 4u), subgroupBroadcast(av, 5u), subgroupBroadcast(av, 6u), subgroupBroadcast(av, 7u));
#else
  // Lane l holds row m + l.
  let av = kmask(a_along_k(base, m + lane, k), kn);
  return V8(subgroupBroadcast(av, 0u), subgroupBroadcast(av, 1u), subgroupBroadcast(av, 2u), subgroupBroadcast(av, 3u), subgroupBroadcast(av, 4u), subgroupBroadcast(av, 5u), subgroupBroadcast(av, 6u), subgroupBroadcast(av, 7u));
#endif
#else
#if TRANS_A
  let z = vec4<f32>(0.0);
  let p0 = a_along_m(base, m, k);
  let p1 = select(z, a_along_m(base, m, k + 1u), 1u < kn);
  let p2 = select(z, a_along_m(base, m, k + 2u), 2u < kn);
  let p3 = select(z, a_along_m(base, m, k + 3u), 3u < kn);
  let q0 = a_along_m(base, m + 4u, k);
  let q1 = select(z, a_along_m(base, m + 4u, k + 1u), 1u < kn);
  let q2 = select(z, a_along_m(base, m + 4u, k + 2u), 2u < kn);
  let q3 = select(z, a_along_m(base, m + 4u, k + 3u), 3u < kn);
  return rows_of_columns(p0, p1, p2, p3, q0, q1, q2, q3);
#else
  return V8(kmask(a_along_k(base, m, k), kn), kmask(a_along_k(base, m + 1u, k), kn), kmask(a_along_k(base, m + 2u, k), kn),
            kmask(a_along_k(base, m + 3u, k), kn), kmask(a_along_k(base, m + 4u, k), kn), kmask(a_along_k(base, m + 5u, k), kn),
            kmask(a_along_k(base, m + 6u, k), kn), kmask(a_along_k(base, m + 7u, k), kn));
#endif
#endif
}

// B[k + j, n .. n+3] for j = 0..3 with clamped indices (k >= K is masked through A).
fn fetch_b(base: u32, n: u32, k: u32) -> V4 {
  let km = P.K - 1u;
#if TRANS_B
  let nm = P.N - 1u;
#if VEC_B == 4
  let w0 = ld4_b(base + min(n, nm) * P.ldb + k);
  let w1 = ld4_b(base + min(n + 1u, nm) * P.ldb + k);
  let w2 = ld4_b(base + min(n + 2u, nm) * P.ldb + k);
  let w3 = ld4_b(base + min(n + 3u, nm) * P.ldb + k);
#else
  let c0 = base + min(n, nm) * P.ldb;
  let c1 = base + min(n + 1u, nm) * P.ldb;
  let c2 = base + min(n + 2u, nm) * P.ldb;
  let c3 = base + min(n + 3u, nm) * P.ldb;
  let k0 = min(k, km); let k1 = min(k + 1u, km); let k2 = min(k + 2u, km); let k3 = min(k + 3u, km);
  let w0 = vec4<f32>(ld_b(c0 + k0), ld_b(c0 + k1), ld_b(c0 + k2), ld_b(c0 + k3));
  let w1 = vec4<f32>(ld_b(c1 + k0), ld_b(c1 + k1), ld_b(c1 + k2), ld_b(c1 + k3));
  let w2 = vec4<f32>(ld_b(c2 + k0), ld_b(c2 + k1), ld_b(c2 + k2), ld_b(c2 + k3));
  let w3 = vec4<f32>(ld_b(c3 + k0), ld_b(c3 + k1), ld_b(c3 + k2), ld_b(c3 + k3));
#endif
  return V4(vec4<f32>(w0.x, w1.x, w2.x, w3.x), vec4<f32>(w0.y, w1.y, w2.y, w3.y), vec4<f32>(w0.z, w1.z, w2.z, w3.z), vec4<f32>(w0.w, w1.w, w2.w, w3.w));
#else
  let r0 = base + min(k, km) * P.ldb;
  let r1 = base + min(k + 1u, km) * P.ldb;
  let r2 = base + min(k + 2u, km) * P.ldb;
  let r3 = base + min(k + 3u, km) * P.ldb;
#if VEC_B == 4
  let nn = min(n, P.N - 4u);
  return V4(ld4_b(r0 + nn), ld4_b(r1 + nn), ld4_b(r2 + nn), ld4_b(r3 + nn));
#else
  let nm = P.N - 1u;
  let n0 = min(n, nm); let n1 = min(n + 1u, nm); let n2 = min(n + 2u, nm); let n3 = min(n + 3u, nm);
  return V4(vec4<f32>(ld_b(r0 + n0), ld_b(r0 + n1), ld_b(r0 + n2), ld_b(r0 + n3)),
            vec4<f32>(ld_b(r1 + n0), ld_b(r1 + n1), ld_b(r1 + n2), ld_b(r1 + n3)),
            vec4<f32>(ld_b(r2 + n0), ld_b(r2 + n1), ld_b(r2 + n2), ld_b(r2 + n3)),
            vec4<f32>(ld_b(r3 + n0), ld_b(r3 + n1), ld_b(r3 + n2), ld_b(r3 + n3)));
#endif
#endif
}

// The finished rows of an invocation, for the epilogue loop.
var<private> acc: array<vec4<f32>, TM>;

fn stash(r: u32, c: V8) {
  acc[r] = c.v0; acc[r + 1u] = c.v1; acc[r + 2u] = c.v2; acc[r + 3u] = c.v3;
  acc[r + 4u] = c.v4; acc[r + 5u] = c.v5; acc[r + 6u] = c.v6; acc[r + 7u] = c.v7;
}

// Workgroup (x, y, z) computes rows mbase + y * TM .. + TM and columns x * 4 WG .. + 4 WG of batch zbase + z.
@compute @workgroup_size(WG)
fn main_reg(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>
#if SG > 1
  , @builtin(subgroup_invocation_id) lane: u32
#endif
) {
#if SG == 1
  let lane = 0u;
#endif
  let off = batch_offsets(wid.z);
  let m0 = P.mbase + wid.y * TM;
  let n = (wid.x * WG + li) * 4u;
  let zero = V8(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var c0 = zero;
#if TM > 8
  var c1 = zero;
#endif
#if TM > 16
  var c2 = zero;
  var c3 = zero;
#endif
  for (var k = 0u; k < P.K; k += 4u) {
    let kn = min(P.K - k, 4u);
    let bv = fetch_b(off.b, n, k);
    c0 = mad8(c0, fetch_a(off.a, m0, k, kn, lane), bv);
#if TM > 8
    c1 = mad8(c1, fetch_a(off.a, m0 + 8u, k, kn, lane), bv);
#endif
#if TM > 16
    c2 = mad8(c2, fetch_a(off.a, m0 + 16u, k, kn, lane), bv);
    c3 = mad8(c3, fetch_a(off.a, m0 + 24u, k, kn, lane), bv);
#endif
  }
  if (n >= P.N) { return; }
  // The epilogue runs as a loop over rows (one copy of its code, however large TM is).
  stash(0u, c0);
#if TM > 8
  stash(8u, c1);
#endif
#if TM > 16
  stash(16u, c2);
  stash(24u, c3);
#endif
  let rows = min(TM, P.M - min(m0, P.M));
  for (var r = 0u; r < rows; r++) { emit(off.y, m0 + r, n, acc[r]); }
}

// ---------------------------------------------------------------- shared-memory tiled kernel (GPUs)
// A workgroup of 8 × 8 invocations computes a 64 × 64 tile of y, 16 deep per step. The step's 64 × 16 values
// of A and 16 × 64 of B are staged in workgroup memory, k-major as vec4 along m and n:
//   As[k * 16 + m / 4][m % 4] = A[m0 + m, k0 + k],   Bs[k * 16 + n / 4][n % 4] = B[k0 + k, n0 + n].
// Invocation (tx, ty) accumulates 8 × 8 outputs in registers: rows 4·ty .. +3 and 32 + 4·ty .. +3, columns
// 4·tx .. +3 and 32 + 4·tx .. +3. Per k it reads two vec4 of A and two of B for 64 FMAs (1 FMA per byte of
// workgroup memory); the two halves 32 apart keep the 8 invocations of a row on 8 different vec4. Each
// invocation stages 4 quads of each operand per step, read as one vec4 where the operand allows (VEC_A /
// VEC_B), 4 consecutive values along the stored matrix's contiguous dimension either way.

var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;

fn a_elem(base: u32, m: u32, k: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
#if TRANS_A
  return ld_a(base + k * P.lda + m);
#else
  return ld_a(base + m * P.lda + k);
#endif
}

fn b_elem(base: u32, k: u32, n: u32) -> f32 {
  if (n >= P.N || k >= P.K) { return 0.0; }
#if TRANS_B
  return ld_b(base + n * P.ldb + k);
#else
  return ld_b(base + k * P.ldb + n);
#endif
}

// A[m .. m + 3, k] (TRANS_A) or A[m, k .. k + 3]: 4 values along the stored contiguous dimension, 0 outside.
// With VEC_A that dimension is a multiple of 4, so a quad is wholly inside or outside.
fn a_quad(base: u32, m: u32, k: u32) -> vec4<f32> {
#if VEC_A == 4
  if (m >= P.M || k >= P.K) { return vec4<f32>(0.0); }
#if TRANS_A
  return ld4_a(base + k * P.lda + m);
#else
  return ld4_a(base + m * P.lda + k);
#endif
#elif TRANS_A
  return vec4<f32>(a_elem(base, m, k), a_elem(base, m + 1u, k), a_elem(base, m + 2u, k), a_elem(base, m + 3u, k));
#else
  return vec4<f32>(a_elem(base, m, k), a_elem(base, m, k + 1u), a_elem(base, m, k + 2u), a_elem(base, m, k + 3u));
#endif
}

// B[k .. k + 3, n] (TRANS_B) or B[k, n .. n + 3], 0 outside.
fn b_quad(base: u32, k: u32, n: u32) -> vec4<f32> {
#if VEC_B == 4
  if (n >= P.N || k >= P.K) { return vec4<f32>(0.0); }
#if TRANS_B
  return ld4_b(base + n * P.ldb + k);
#else
  return ld4_b(base + k * P.ldb + n);
#endif
#elif TRANS_B
  return vec4<f32>(b_elem(base, k, n), b_elem(base, k + 1u, n), b_elem(base, k + 2u, n), b_elem(base, k + 3u, n));
#else
  return vec4<f32>(b_elem(base, k, n), b_elem(base, k, n + 1u), b_elem(base, k, n + 2u), b_elem(base, k, n + 3u));
#endif
}

// c[2r + h] += a_r · B columns of half h, for the 4 rows of one A quad (rows r0 .. r0 + 3).
fn outer4(c: ptr<function, array<vec4<f32>, 16>>, r0: u32, a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>) {
  (*c)[r0] = fma(vec4<f32>(a.x), b0, (*c)[r0]);
  (*c)[r0 + 1u] = fma(vec4<f32>(a.x), b1, (*c)[r0 + 1u]);
  (*c)[r0 + 2u] = fma(vec4<f32>(a.y), b0, (*c)[r0 + 2u]);
  (*c)[r0 + 3u] = fma(vec4<f32>(a.y), b1, (*c)[r0 + 3u]);
  (*c)[r0 + 4u] = fma(vec4<f32>(a.z), b0, (*c)[r0 + 4u]);
  (*c)[r0 + 5u] = fma(vec4<f32>(a.z), b1, (*c)[r0 + 5u]);
  (*c)[r0 + 6u] = fma(vec4<f32>(a.w), b0, (*c)[r0 + 6u]);
  (*c)[r0 + 7u] = fma(vec4<f32>(a.w), b1, (*c)[r0 + 7u]);
}

@compute @workgroup_size(8, 8)
fn main_tiled(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32,
              @builtin(workgroup_id) wid: vec3<u32>) {
  let off = batch_offsets(wid.z);
  let m0 = P.mbase + wid.y * 64u;
  let n0 = wid.x * 64u;
  // c[2r + h]: row r of the invocation's 8 (4·ty + r, then 32 + 4·ty + r − 4), columns 4·tx + 32·h .. + 3.
  var c: array<vec4<f32>, 16>;
  for (var k0 = 0u; k0 < P.K; k0 += 16u) {
    for (var r = 0u; r < 4u; r++) {
      let idx = li + 64u * r;
#if TRANS_A
      // A stored [K, M]: a quad is 4 consecutive m at one k.
      let ka = idx / 16u;
      let ma = (idx % 16u) * 4u;
      As[idx] = a_quad(off.a, m0 + ma, k0 + ka);
#else
      // A stored [M, K]: a quad is 4 consecutive k of one row, spread over 4 vectors.
      let ma = idx / 4u;
      let ka = (idx % 4u) * 4u;
      let qa = a_quad(off.a, m0 + ma, k0 + ka);
      for (var i = 0u; i < 4u; i++) { As[(ka + i) * 16u + ma / 4u][ma % 4u] = qa[i]; }
#endif
#if TRANS_B
      // B stored [N, K]: a quad is 4 consecutive k of one column.
      let nb = idx / 4u;
      let kb = (idx % 4u) * 4u;
      let qb = b_quad(off.b, k0 + kb, n0 + nb);
      for (var i = 0u; i < 4u; i++) { Bs[(kb + i) * 16u + nb / 4u][nb % 4u] = qb[i]; }
#else
      // B stored [K, N]: a quad is 4 consecutive n at one k.
      let kb = idx / 16u;
      let nb = (idx % 16u) * 4u;
      Bs[idx] = b_quad(off.b, k0 + kb, n0 + nb);
#endif
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let b0 = Bs[kk * 16u + lid.x];
      let b1 = Bs[kk * 16u + lid.x + 8u];
      outer4(&c, 0u, As[kk * 16u + lid.y], b0, b1);
      outer4(&c, 8u, As[kk * 16u + lid.y + 8u], b0, b1);
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 8u; r++) {
    let m = m0 + select(4u * lid.y + r, 28u + 4u * lid.y + r, r >= 4u);
    if (m >= P.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let n = n0 + 4u * lid.x + 32u * h;
      if (n < P.N) { emit(off.y, m, n, c[2u * r + h]); }
    }
  }
}
