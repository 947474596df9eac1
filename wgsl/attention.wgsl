// Flash-style scaled dot-product attention: out = softmax(scale · q kᵀ) v in one pass over the keys, with an
// online softmax (running max and running sum per query, rescaled accumulator), all in f32.
//
// Each invocation owns QPI queries of one (batch, head): their rows of q (multiplied by scale · log2(e) when
// loaded, so the softmax runs on exp2) and their output accumulators stay in registers. All invocations of a
// workgroup walk the same keys in the same order. The accumulator is rescaled only when a query's running
// max grows (the same result as rescaling at every key, with far fewer multiplies and exps).
//
// Key and value rows reach the invocations in one of two ways:
//   SG == 0   every invocation loads each row itself (on GPUs, loads of one address across a workgroup are
//             broadcasts);
//   SG > 0    the SG invocations of a subgroup load a row together, one vec4 chunk each, and hand the chunks
//             round with subgroupShuffle. Software adapters execute every storage load invocation by
//             invocation, so this cuts their load work by SG (measured 10× faster on lavapipe).
//
// Tensors are addressed by strides, so one kernel reads every layout SAM 2 produces:
//   element (b, h, l, d) of x is at x_off + b·x_sb + h·x_sh + l·x_sl + d   (d contiguous)
// for q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv], out [B, H, Lq, Dv] and their token-major
// ([B, L, H·D]) and packed-qkv ([B, L, 3, H, D]) equivalents.
//
// Grid: x = query blocks of WG·QPI queries, y (+ z·bh_per_y) = batch · heads.
// Defines:
//   WG       invocations per workgroup (a multiple of SG)
//   QPI      queries per invocation
//   KT       keys per tile between workgroup barriers (0: one tile)
//   DC       vec4 chunks of a q / k row held in registers (D <= 4·DC; a multiple of 4, at most 64)
//   DVC      vec4 chunks of a v / out row (Dv <= 4·DVC; a multiple of 4, at most 64)
//   SG       subgroup size of the shuffle path (4, 8, 16, 32 or 64), or 0
//   DFULL    1 when D == 4·DC (no run-time guard on q / k chunks); DVFULL likewise for Dv and DVC
//   ALIGNED  1 when D, Dv and every offset and stride are multiples of 4: rows are read as whole vec4s and
//            out written as vec4s; 0: element loads with the rows' tails masked.
//
// Loops over a row's chunks run in banks of 16 with constant bounds (see qk_bank, pv_bank), so that shader
// compilers unroll them and the q / accumulator arrays stay in registers.
#if SG > 0
enable subgroups;
#endif
#include "common.wgsl"

struct Params {
  lq: u32, lk: u32, d: u32, dv: u32,
  heads: u32, nbh: u32, scale: f32, bh_per_y: u32,
  q_off: u32, q_sb: u32, q_sh: u32, q_sl: u32,
  k_off: u32, k_sb: u32, k_sh: u32, k_sl: u32,
  v_off: u32, v_sb: u32, v_sh: u32, v_sl: u32,
  o_off: u32, o_sb: u32, o_sh: u32, o_sl: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#if ALIGNED
#tensor q 1 read vec4
#tensor k 2 read vec4
#tensor v 3 read vec4
#else
#tensor q 1 read
#tensor k 2 read
#tensor v 3 read
#endif
#tensor o 4 write


// 4 elements of a row from element e (e < n, n the row length); elements past the row's end read 0. The
// unaligned forms clamp the index to the row's last element, so no read leaves the row.
#if ALIGNED
fn ldq4(i: u32, e: u32, n: u32) -> vec4<f32> { return ld4_q(i); }
fn ldk4(i: u32, e: u32, n: u32) -> vec4<f32> { return ld4_k(i); }
fn ldv4(i: u32, e: u32, n: u32) -> vec4<f32> { return ld4_v(i); }
#else
// Indices of elements i .. i + 3, clamped to the row's last element; then the values past the row zeroed.
fn tail_index(i: u32, e: u32, n: u32) -> vec4<u32> {
  let last = i + (n - 1u - e);
  return vec4<u32>(i, min(i + 1u, last), min(i + 2u, last), min(i + 3u, last));
}
fn tail_mask(v: vec4<f32>, e: u32, n: u32) -> vec4<f32> {
  return vec4<f32>(v.x, select(0.0, v.y, e + 1u < n), select(0.0, v.z, e + 2u < n), select(0.0, v.w, e + 3u < n));
}
fn ldq4(i: u32, e: u32, n: u32) -> vec4<f32> { let j = tail_index(i, e, n); return tail_mask(vec4<f32>(ld_q(j.x), ld_q(j.y), ld_q(j.z), ld_q(j.w)), e, n); }
fn ldk4(i: u32, e: u32, n: u32) -> vec4<f32> { let j = tail_index(i, e, n); return tail_mask(vec4<f32>(ld_k(j.x), ld_k(j.y), ld_k(j.z), ld_k(j.w)), e, n); }
fn ldv4(i: u32, e: u32, n: u32) -> vec4<f32> { let j = tail_index(i, e, n); return tail_mask(vec4<f32>(ld_v(j.x), ld_v(j.y), ld_v(j.z), ld_v(j.w)), e, n); }
#endif

// The (batch, head) of a workgroup (grid y + z · bh_per_y) and the offsets of its rows in q, k, v and out.
// raw >= nbh past the last (batch, head) of a folded grid: such workgroups redo the last one and store nothing.
struct Head { raw: u32, q: u32, k: u32, v: u32, o: u32 }

fn head_of(wid: vec3<u32>) -> Head {
  let raw = wid.y + wid.z * P.bh_per_y;
  let bh = min(raw, P.nbh - 1u);
  let b = bh / P.heads;
  let h = bh % P.heads;
  return Head(raw, P.q_off + b * P.q_sb + h * P.q_sh, P.k_off + b * P.k_sb + h * P.k_sh, P.v_off + b * P.v_sb + h * P.v_sh, P.o_off + b * P.o_sb + h * P.o_sh);
}

// Writes chunk c of an output row: elements 4c .. 4c + 3, those below dv.
fn store_chunk(orow: u32, c: u32, r: vec4<f32>) {
  let e = 4u * c;
#if ALIGNED
  st4_o(orow + e, r);
#else
  st_o(orow + e, r.x);
  if (e + 1u < P.dv) { st_o(orow + e + 1u, r.y); }
  if (e + 2u < P.dv) { st_o(orow + e + 2u, r.z); }
  if (e + 3u < P.dv) { st_o(orow + e + 3u, r.w); }
#endif
}

// ---------------------------------------------------------------- main: the register kernel (CPU adapters)
#if !FLASH

// Chunks per subgroup lane (shuffle path).
#if SG > 0
#define KR ((DC + SG - 1) / SG)
#define VR ((DVC + SG - 1) / SG)
#else
#define KR 1
#define VR 1
#endif

var<private> qr: array<vec4<f32>, QPI * DC>;
var<private> acc: array<vec4<f32>, QPI * DVC>;
var<private> s: array<f32, QPI>;
var<private> kl: array<vec4<f32>, KR>;
var<private> vl: array<vec4<f32>, VR>;
var<private> lane: u32;

// Chunk c (4 elements from 4c) of key row `row`.
fn kchunk(row: u32, c: u32) -> vec4<f32> {
#if SG > 0
  return subgroupShuffle(kl[c / SG], c % SG);
#else
  return ldk4(row + 4u * c, 4u * c, P.d);
#endif
}

fn vchunk(row: u32, c: u32) -> vec4<f32> {
#if SG > 0
  return subgroupShuffle(vl[c / SG], c % SG);
#else
  return ldv4(row + 4u * c, 4u * c, P.dv);
#endif
}

// Shuffle path: lane l of the subgroup loads chunks l, l + SG, ... of the row (clamped to the row's last
// chunk, so every lane loads something valid and no load leaves the row).
fn load_rows(krow: u32, vrow: u32) {
#if SG > 0
  let kc = (P.d + 3u) / 4u - 1u;
  for (var r = 0u; r < KR; r++) {
    let c = min(r * SG + lane, kc);
    kl[r] = ldk4(krow + 4u * c, 4u * c, P.d);
  }
  let vc = (P.dv + 3u) / 4u - 1u;
  for (var r = 0u; r < VR; r++) {
    let c = min(r * SG + lane, vc);
    vl[r] = ldv4(vrow + 4u * c, 4u * c, P.dv);
  }
#endif
}

// s[i] += q_i · k over chunks c0 .. c0 + 15 of the row.
fn qk_bank(krow: u32, c0: u32) {
  for (var cc = 0u; cc < 16u; cc++) {
    let c = c0 + cc;
    if (c < DC && (DFULL == 1 || 4u * c < P.d)) {
      let kv = kchunk(krow, c);
      for (var i = 0u; i < QPI; i++) {
        s[i] += dot(qr[i * DC + c], kv);
      }
    }
  }
}

// acc_i += p_i v over chunks c0 .. c0 + 15 (p_i in s[i]).
fn pv_bank(vrow: u32, c0: u32) {
  for (var cc = 0u; cc < 16u; cc++) {
    let c = c0 + cc;
    if (c < DVC && (DVFULL == 1 || 4u * c < P.dv)) {
      let vv = vchunk(vrow, c);
      for (var i = 0u; i < QPI; i++) {
        acc[i * DVC + c] = fma(vec4<f32>(s[i]), vv, acc[i * DVC + c]);
      }
    }
  }
}

fn rescale_bank(i: u32, c0: u32, alpha: f32) {
  for (var cc = 0u; cc < 16u; cc++) {
    let c = c0 + cc;
    if (c < DVC) {
      acc[i * DVC + c] *= alpha;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>
#if SG > 0
        , @builtin(subgroup_invocation_id) sgi: u32
#endif
) {
#if SG > 0
  lane = sgi;
#endif
  // Workgroups past the last (batch, head) of a folded grid redo the last one and store nothing, and
  // queries past lq work on the last row and are not stored, so that all invocations stay in step (an early
  // return would put the whole kernel under control flow, which software adapters compile far worse).
  let hd = head_of(wid);
  let bh_raw = hd.raw;
  let qb = hd.q;
  let kb = hd.k;
  let vb = hd.v;
  let ob = hd.o;
  let q0 = wid.x * (WG * QPI) + lid.x;
  // log2(e): the softmax below uses exp2.
  let qscale = P.scale * 1.4426950408889634;

  var run_max: array<f32, QPI>;
  var run_sum: array<f32, QPI>;
  for (var i = 0u; i < QPI; i++) {
    let row = qb + min(q0 + i * WG, P.lq - 1u) * P.q_sl;
    for (var c = 0u; c < DC; c++) {
      qr[i * DC + c] = vec4<f32>(0.0);
    }
    // A run-time bound keeps this loop rolled, so its loads are compiled once (each storage access is a
    // lot of code on software adapters).
    let nc = (P.d + 3u) / 4u;
    for (var c = 0u; c < nc; c++) {
      qr[i * DC + c] = ldq4(row + 4u * c, 4u * c, P.d) * qscale;
    }
    for (var c = 0u; c < DVC; c++) {
      acc[i * DVC + c] = vec4<f32>(0.0);
    }
    run_max[i] = NEG_BIG;
    run_sum[i] = 0.0;
  }

  // With KT > 0, all invocations finish a tile of KT keys before any starts the next, so that the
  // workgroup's pass over k and v reads each tile from cache (software adapters run a workgroup's subgroups
  // one after another, each over all keys, unless a barrier interleaves them).
#if KT > 0
  let tile = u32(KT);
#else
  let tile = P.lk;
#endif
  for (var j0 = 0u; j0 < P.lk; j0 += tile) {
    workgroupBarrier();
    let j1 = min(j0 + tile, P.lk);
    for (var j = j0; j < j1; j++) {
      let krow = kb + j * P.k_sl;
      let vrow = vb + j * P.v_sl;
      load_rows(krow, vrow);
      for (var i = 0u; i < QPI; i++) { s[i] = 0.0; }
      qk_bank(krow, 0u);
#if DC > 16
      qk_bank(krow, 16u);
#endif
#if DC > 32
      qk_bank(krow, 32u);
#endif
#if DC > 48
      qk_bank(krow, 48u);
#endif
      for (var i = 0u; i < QPI; i++) {
        if (s[i] > run_max[i]) {
          let alpha = exp2(run_max[i] - s[i]);
          run_sum[i] *= alpha;
          run_max[i] = s[i];
          rescale_bank(i, 0u, alpha);
#if DVC > 16
          rescale_bank(i, 16u, alpha);
#endif
#if DVC > 32
          rescale_bank(i, 32u, alpha);
#endif
#if DVC > 48
          rescale_bank(i, 48u, alpha);
#endif
        }
        let p = exp2(s[i] - run_max[i]);
        run_sum[i] += p;
        s[i] = p;
      }
      pv_bank(vrow, 0u);
#if DVC > 16
      pv_bank(vrow, 16u);
#endif
#if DVC > 32
      pv_bank(vrow, 32u);
#endif
#if DVC > 48
      pv_bank(vrow, 48u);
#endif
    }
  }

  for (var i = 0u; i < QPI; i++) {
    let qi = q0 + i * WG;
    if (qi < P.lq && bh_raw < P.nbh) {
      let inv = 1.0 / run_sum[i];
      let orow = ob + qi * P.o_sl;
      // Rolled, like the loads of q.
      let nc = (P.dv + 3u) / 4u;
      for (var c = 0u; c < nc; c++) { store_chunk(orow, c, acc[i * DVC + c] * inv); }
    }
  }
}
#endif

// ---------------------------------------------------------------- flash: FlashAttention-2 (GPUs)
// A workgroup takes BQ queries of one (batch, head) and walks the keys in tiles of BK rows, staged in
// workgroup memory (k and v as vec4 chunks, f32). T invocations share a query: lane t of a query holds
// chunks t, t + T, ... of its q row (scaled by scale · log2(e)) and of its output accumulator in registers,
// so head dims up to 256 fit in registers (T is chosen so a lane holds at most 16 vec4). Per tile:
//   1. the workgroup loads BK rows of k and v (rows past lk read 0);
//   2. each lane computes its part of the BQ × BK scores (a partial dot product over its chunks); with
//      T > 1 the T partials of a score are summed through workgroup memory;
//   3. one invocation per query updates the row's running max and sum and turns the tile's scores into
//      probabilities exp2(s − max) (keys past lk get 0), and the rescale factor of the accumulator;
//   4. each lane rescales its accumulator chunks and adds the probabilities times the tile's v rows.
// All math is f32 (online softmax in f32, the same result as one softmax up to rounding); the output is
// written once, divided by the row's sum.
//
// Defines: FLASH = 1, WG (= BQ · T), T (1, 2, 4, 8 or 16; divides DC and DVC), BK (keys per tile), DC, DVC
// (vec4 chunks of a q / k and of a v row, as for main), ALIGNED.
// Grid: x = query blocks of BQ queries, y (+ z · bh_per_y) = batch · heads.
#if FLASH

const BQ = WG / T;
const CQ = DC / T;
const CV = DVC / T;

var<workgroup> ks: array<vec4<f32>, BK * DC>;
var<workgroup> vs: array<vec4<f32>, BK * DVC>;
#if T > 1
var<workgroup> partial: array<f32, BQ * BK * T>;
#endif
// Scores of the tile, then their probabilities.
var<workgroup> sc: array<f32, BQ * BK>;
var<workgroup> row_max: array<f32, BQ>;
var<workgroup> row_sum: array<f32, BQ>;
var<workgroup> row_alpha: array<f32, BQ>;

@compute @workgroup_size(WG)
fn flash(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  // Past the last (batch, head) of a folded grid or past lq, the work is done on the last row and not stored
  // (every invocation must reach every barrier).
  let hd = head_of(wid);
  let kb = hd.k;
  let vb = hd.v;
  let qi = li / T;
  let t = li % T;
  let q0 = wid.x * BQ + qi;
  let nkc = (P.d + 3u) / 4u;
  let nvc = (P.dv + 3u) / 4u;
  // log2(e): the softmax below uses exp2.
  let qscale = P.scale * 1.4426950408889634;

  var qr: array<vec4<f32>, CQ>;
  var acc: array<vec4<f32>, CV>;
  let qrow = hd.q + min(q0, P.lq - 1u) * P.q_sl;
  for (var i = 0u; i < CQ; i++) {
    let c = t + i * T;
    qr[i] = vec4<f32>(0.0);
    if (c < nkc) { qr[i] = ldq4(qrow + 4u * c, 4u * c, P.d) * qscale; }
  }
  for (var i = 0u; i < CV; i++) { acc[i] = vec4<f32>(0.0); }
  if (li < BQ) {
    row_max[li] = NEG_BIG;
    row_sum[li] = 0.0;
  }

  for (var j0 = 0u; j0 < P.lk; j0 += BK) {
    // The previous tile's readers are done before its rows are replaced.
    workgroupBarrier();
    // Chunks e < BK · DC of the tile are k's, the rest v's.
    for (var e = li; e < BK * (DC + DVC); e += WG) {
      let isk = e < BK * DC;
      let f = select(e - BK * DC, e, isk);
      let cs = select(u32(DVC), u32(DC), isk);
      let j = f / cs;
      let c = f % cs;
      var x = vec4<f32>(0.0);
      if (isk) {
        if (j0 + j < P.lk && c < nkc) { x = ldk4(kb + (j0 + j) * P.k_sl + 4u * c, 4u * c, P.d); }
        ks[f] = x;
      } else {
        if (j0 + j < P.lk && c < nvc) { x = ldv4(vb + (j0 + j) * P.v_sl + 4u * c, 4u * c, P.dv); }
        vs[f] = x;
      }
    }
    workgroupBarrier();
    for (var j = 0u; j < BK; j++) {
      var s = 0.0;
      for (var i = 0u; i < CQ; i++) { s += dot(qr[i], ks[j * DC + t + i * T]); }
#if T > 1
      partial[(qi * BK + j) * T + t] = s;
#else
      sc[qi * BK + j] = s;
#endif
    }
    workgroupBarrier();
#if T > 1
    for (var e = li; e < BQ * BK; e += WG) {
      var s = 0.0;
      for (var u = 0u; u < T; u++) { s += partial[e * T + u]; }
      sc[e] = s;
    }
    workgroupBarrier();
#endif
    if (li < BQ) {
      let nk = min(u32(BK), P.lk - j0);
      let m_old = row_max[li];
      var m = m_old;
      for (var j = 0u; j < nk; j++) { m = max(m, sc[li * BK + j]); }
      let alpha = exp2(m_old - m);
      var l = row_sum[li] * alpha;
      for (var j = 0u; j < BK; j++) {
        let p = select(0.0, exp2(sc[li * BK + j] - m), j < nk);
        sc[li * BK + j] = p;
        l += p;
      }
      row_max[li] = m;
      row_sum[li] = l;
      row_alpha[li] = alpha;
    }
    workgroupBarrier();
    let alpha = row_alpha[qi];
    for (var i = 0u; i < CV; i++) {
      let c = t + i * T;
      var a = acc[i] * alpha;
      for (var j = 0u; j < BK; j++) { a = fma(vec4<f32>(sc[qi * BK + j]), vs[j * DVC + c], a); }
      acc[i] = a;
    }
  }
  workgroupBarrier();
  if (q0 < P.lq && hd.raw < P.nbh) {
    let inv = 1.0 / row_sum[qi];
    let orow = hd.o + q0 * P.o_sl;
    for (var i = 0u; i < CV; i++) {
      let c = t + i * T;
      if (c < nvc) { store_chunk(orow, c, acc[i] * inv); }
    }
  }
}

#endif
