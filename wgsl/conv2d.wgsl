// 2-D convolution on NCHW tensors, PyTorch's semantics (cross-correlation, zero padding), with an optional
// bias + activation epilogue. The entry points share one uniform block; each binds only the tensors it
// reads, in the order x, wt, bias (defines X, WT, BIAS: 1 when bound), then y:
//
//   direct     any stride / padding / dilation / groups. One invocation: CO_T output channels × 4·DPV
//              consecutive output pixels (flattened over Ho·Wo) of one image; implicit-GEMM loop over the
//              Cin/G · kh · kw taps. With WPACK the weight is the packed [Cin/G·kh·kw, Cout] (pack_w), and
//              a tap's CO_T channels load as CO_T / 4 quads.
//   im2col     the column matrix of a convolution without groups, for the matmul route (CPU adapters). x, y.
//   taps       the transposed convolution's matmul route: scatters Wᵀ · x to the kernel taps, + bias, act.
//              x, [bias], y.
//   pack_w     the packed weight for direct. wt, y.
//   depthwise  one input channel per output channel, stride 1, dilation 1 (the CXBlock 7×7). One
//              invocation: OX consecutive outputs of a row; each kernel row slides a register window over
//              the input, so a row costs kw + OX loads for OX·kw FMAs.
//   gemm       1×1 convolution (TRANSPOSE = 0): y[n] = W[Cout, Cin] · x[n][Cin, H·W]; or transposed
//              convolution with kernel == stride (TRANSPOSE = 1): y'[n] = Wᵀ · x[n] with W viewed as
//              [Cin, Cout·kh·kw] (PyTorch's ConvTranspose2d weight layout), each row m = (co, ky, kx) of y'
//              going to y[n, co, iy·sh + ky, ix·sw + kx]. One invocation: MT rows × PXT pixels.
//
// CPU drivers (lavapipe) load every lane of a storage read one at a time, so the kernels are blocked for
// many FMAs per load, and read x / wt as 4-element quads where the layout allows (VEC_X, VEC_W).
//
// Defines: WG (invocations per workgroup), X, WT, BIAS (the bindings), CO_T and DPV (direct), WPACK (direct,
// with VEC_W), OX (depthwise: 4 or 8), MT, PXT and TRANSPOSE (gemm), VEC_X, VEC_W. Shapes and the activation
// are uniforms.
#include "common.wgsl"

struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, ho: u32, wo: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, dh: u32, dw: u32, cin_g: u32,
  cout_g: u32, act: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
// x and wt can be bound as arrays of 4-element quads (VEC_X, VEC_W): one quad load is far cheaper than four
// scalar loads on CPU drivers, which load every lane one by one (ldq_NAME(q) reads elements 4q..4q+3; the
// tensor's size must be a multiple of 4). ld_NAME(i) stays available for the scalar paths.
#if X && VEC_X
#tensor x 1 read vec4
#elif X
#tensor x 1 read
#endif
#if WT && VEC_W
#tensor wt 1+X read vec4
#elif WT
#tensor wt 1+X read
#endif
#if BIAS
#tensor bias 1+X+WT read
#endif
#tensor y 1+X+WT+BIAS write
#include "store_run.wgsl"

#ifndef CO_T
#define CO_T 4
#endif
#ifndef OX
#define OX 4
#endif
#ifndef MT
#define MT 4
#endif

// Epilogue: activation P.act (0 none, 1 GELU, 2 ReLU); a uniform branch, once per output.
fn act1(v: f32) -> f32 {
  if (P.act == 1u) { return gelu(v); }
  if (P.act == 2u) { return max(v, 0.0); }
  return v;
}

fn act4(v: vec4<f32>) -> vec4<f32> {
  if (P.act == 1u) { return vec4<f32>(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w)); }
  if (P.act == 2u) { return max(v, vec4<f32>(0.0)); }
  return v;
}

fn bias_of(co: u32) -> f32 {
#if BIAS
  return ld_bias(co);
#else
  return 0.0;
#endif
}

// x[idx] where ok, else 0 (the clamped index keeps the read in bounds).
#if X
fn ldx_or0(idx: i32, ok: bool) -> f32 {
  return select(0.0, ld_x(u32(max(idx, 0))), ok);
}
#endif

// ---------------------------------------------------------------- direct
// Compiled where its bindings are (an entry point binds only what it reads).
#if X && WT
// workgroups: [ceil(Ho·Wo / 4 / WG), ceil(Cout / CO_T), N]

#ifndef DPV
#define DPV 1
#endif

@compute @workgroup_size(WG)
fn direct(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let hwo = P.ho * P.wo;
  let p0 = gid.x * (4u * DPV);
  if (p0 >= hwo) { return; }
  let co0 = wid.y * CO_T;
  let n = wid.z;
  let khw = P.kh * P.kw;
  let plane = P.h * P.w;
  let hi = i32(P.h);
  let wi = i32(P.w);

  // Input origin of each output pixel (pixels past the end are clamped: computed, never stored).
  var iy0: array<vec4<i32>, DPV>;
  var ix0: array<vec4<i32>, DPV>;
  for (var v = 0u; v < DPV; v++) {
    let p = min(vec4<u32>(p0 + 4u * v) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(hwo - 1u));
    let oy = p / P.wo;
    let ox = p - oy * P.wo;
    iy0[v] = vec4<i32>(oy * P.sh) - i32(P.ph);
    ix0[v] = vec4<i32>(ox * P.sw) - i32(P.pw);
  }

#if WPACK
  // Packed weights [Cin/G·kh·kw, Cout]: the block's channels of one tap are CO_T / 4 quads.
  let cq = P.cout / 4u;
  var wq: array<u32, CO_T / 4>;
  for (var c4 = 0u; c4 < CO_T / 4u; c4++) { wq[c4] = min(co0 / 4u + c4, cq - 1u); }
#else
  // Weight offsets of each channel of the block (clamped to the last channel past Cout).
  var woff: array<u32, CO_T>;
  for (var c = 0u; c < CO_T; c++) {
    woff[c] = min(co0 + c, P.cout - 1u) * P.cin_g * khw;
  }
#endif
  var acc: array<array<vec4<f32>, DPV>, CO_T>;
  for (var c = 0u; c < CO_T; c++) {
    for (var v = 0u; v < DPV; v++) { acc[c][v] = vec4<f32>(0.0); }
  }

  let ci0 = (co0 / P.cout_g) * P.cin_g;
  var xb = i32((n * P.cin + ci0) * plane);
  var wb = 0u;
  for (var ci = 0u; ci < P.cin_g; ci++) {
    for (var ky = 0u; ky < P.kh; ky++) {
      var rowok: array<vec4<bool>, DPV>;
      var rb: array<vec4<i32>, DPV>;
      for (var v = 0u; v < DPV; v++) {
        let iy = iy0[v] + i32(ky * P.dh);
        rowok[v] = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(hi));
        rb[v] = vec4<i32>(xb) + iy * wi;
      }
      for (var kx = 0u; kx < P.kw; kx++) {
        var xv: array<vec4<f32>, DPV>;
        for (var v = 0u; v < DPV; v++) {
          let ix = ix0[v] + i32(kx * P.dw);
          let ok = rowok[v] & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(wi));
          let idx = rb[v] + ix;
          xv[v] = vec4<f32>(ldx_or0(idx.x, ok.x), ldx_or0(idx.y, ok.y), ldx_or0(idx.z, ok.z), ldx_or0(idx.w, ok.w));
        }
        let k = wb + ky * P.kw + kx;
#if WPACK
        let kr = k * cq;
        for (var c4 = 0u; c4 < CO_T / 4u; c4++) {
          let wv = ldq_wt(kr + wq[c4]);
          for (var v = 0u; v < DPV; v++) {
            acc[4u * c4][v] += wv.x * xv[v];
            acc[4u * c4 + 1u][v] += wv.y * xv[v];
            acc[4u * c4 + 2u][v] += wv.z * xv[v];
            acc[4u * c4 + 3u][v] += wv.w * xv[v];
          }
        }
#else
        for (var c = 0u; c < CO_T; c++) {
          let wv = ld_wt(woff[c] + k);
          for (var v = 0u; v < DPV; v++) { acc[c][v] += wv * xv[v]; }
        }
#endif
      }
    }
    xb += i32(plane);
    wb += khw;
  }

  for (var c = 0u; c < CO_T; c++) {
    let co = co0 + c;
    if (co >= P.cout) { break; }
    let b = bias_of(co);
    let ob = (n * P.cout + co) * hwo;
    for (var v = 0u; v < DPV; v++) {
      let pv = p0 + 4u * v;
      if (pv >= hwo) { break; }
      store_run(ob + pv, act4(acc[c][v] + b), min(4u, hwo - pv));
    }
  }
}

#endif

// ---------------------------------------------------------------- im2col (groups = 1)
#if X
// col[n, k, p] = x[n, ci, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw] (0 outside the image), row k = (ci·kh + ky)·kw
// + kx over Cin·kh·kw, column p = oy·Wo + ox over Ho·Wo: conv2d is then W[Cout, Cin·kh·kw] · col[n], a
// matmul. The column matrix is bound as y. One invocation: 4 consecutive pixels of one row.
// workgroups: [ceil(Ho·Wo / 4 / WG), Cin·kh·kw, N]

@compute @workgroup_size(WG)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>) {
  let hwo = P.ho * P.wo;
  let p0 = gid.x * 4u;
  if (p0 >= hwo) { return; }
  let k = gid.y;
  let n = gid.z;
  let khw = P.kh * P.kw;
  let ci = k / khw;
  let r = k - ci * khw;
  let ky = r / P.kw;
  let kx = r - ky * P.kw;
  let hi = i32(P.h);
  let wi = i32(P.w);
  let p = min(vec4<u32>(p0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(hwo - 1u));
  let oy = p / P.wo;
  let ox = p - oy * P.wo;
  let iy = vec4<i32>(oy * P.sh) - i32(P.ph) + i32(ky * P.dh);
  let ix = vec4<i32>(ox * P.sw) - i32(P.pw) + i32(kx * P.dw);
  let ok = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(hi)) & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(wi));
  let idx = vec4<i32>(i32((n * P.cin + ci) * P.h * P.w)) + iy * wi + ix;
  let v = vec4<f32>(ldx_or0(idx.x, ok.x), ldx_or0(idx.y, ok.y), ldx_or0(idx.z, ok.z), ldx_or0(idx.w, ok.w));
  store_run((n * P.cin * khw + k) * hwo + p0, v, min(4u, hwo - p0));
}

#endif

// ---------------------------------------------------------------- taps (transposed convolution, kernel == stride)
#if X
// The matmul route's epilogue: y'[n] = Wᵀ · x[n] (bound as x, [N, Cout·kh·kw, H·W], rows m = (co, ky, kx))
// goes to y[n, co, iy·sh + ky, ix·sw + kx] = act(y'[n, m, iy·W + ix] + bias[co]). One invocation: 4
// consecutive outputs of a row of y. Shapes as for the transposed convolution (ho = H·sh, wo = W·sw).
// workgroups: [ceil(wo / 4 / WG), ho, N·Cout]

@compute @workgroup_size(WG)
fn taps(@builtin(global_invocation_id) gid: vec3<u32>) {
  let ox0 = gid.x * 4u;
  if (ox0 >= P.wo) { return; }
  let oy = gid.y;
  let nc = gid.z;
  let co = nc % P.cout;
  let iy = oy / P.sh;
  let ky = oy - iy * P.sh;
  let hw = P.h * P.w;
  // Row (co, ky, kx) of y' for image n: ((n·Cout + co)·kh + ky)·kw + kx.
  let rowb = (nc * P.kh + ky) * P.kw;
  let b = bias_of(co);
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    let ox = min(ox0 + j, P.wo - 1u);
    let ix = ox / P.sw;
    let kx = ox - ix * P.sw;
    v[j] = ld_x((rowb + kx) * hw + iy * P.w + ix) + b;
  }
  store_run((nc * P.ho + oy) * P.wo + ox0, act4(v), min(4u, P.wo - ox0));
}

#endif

// ---------------------------------------------------------------- pack_w
#if WT
// Packed weights for direct with WPACK: y[k, co] = wt[co, k], k over Cin/G·kh·kw, Cout % 4 == 0. One
// invocation: 4 consecutive channels of one tap.
// workgroups: grid(ceil(K · Cout / 4 / WG))

@compute @workgroup_size(WG)
fn pack_w(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let kn = P.cin_g * P.kh * P.kw;
  let cq = P.cout / 4u;
  let i = linear_id(gid, nwg, WG);
  if (i >= kn * cq) { return; }
  let k = i / cq;
  let co = (i - k * cq) * 4u;
  let v = vec4<f32>(ld_wt(co * kn + k), ld_wt((co + 1u) * kn + k), ld_wt((co + 2u) * kn + k), ld_wt((co + 3u) * kn + k));
  st4_y(k * P.cout + co, v);
}

#endif

// ---------------------------------------------------------------- depthwise (stride 1, dilation 1)
#if X && WT
// workgroups: [ceil(Ho · ceil(Wo / OX) / WG), N·Cout]

@compute @workgroup_size(WG)
fn depthwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let wq = (P.wo + OX - 1u) / OX;
  let oy = gid.x / wq;
  if (oy >= P.ho) { return; }
  let ox0 = (gid.x - oy * wq) * OX;
  let pl = wid.y;
  let n = pl / P.cout;
  let co = pl - n * P.cout;
  let ci = co / P.cout_g;
  let xb = i32((n * P.cin + ci) * P.h * P.w);
  let wb = co * P.kh * P.kw;
  let hi = i32(P.h);
  let wi = i32(P.w);
  let ix0 = i32(ox0) - i32(P.pw);
  let dx = vec4<i32>(0, 1, 2, 3);

  var a0 = vec4<f32>(0.0);
#if OX == 8
  var a1 = vec4<f32>(0.0);
#endif
  for (var ky = 0u; ky < P.kh; ky++) {
    let iy = i32(oy) - i32(P.ph) + i32(ky);
    if (iy < 0 || iy >= hi) { continue; }
    let rb = xb + iy * wi;
    let wrow = wb + ky * P.kw;
    // Window of OX inputs under the kernel's column kx; shifts left by one per column.
    let ia = ix0 + dx;
    let oka = (ia >= vec4<i32>(0)) & (ia < vec4<i32>(wi));
    var w0 = vec4<f32>(ldx_or0(rb + ia.x, oka.x), ldx_or0(rb + ia.y, oka.y), ldx_or0(rb + ia.z, oka.z), ldx_or0(rb + ia.w, oka.w));
#if OX == 8
    let ib = ia + 4;
    let okb = (ib >= vec4<i32>(0)) & (ib < vec4<i32>(wi));
    var w1 = vec4<f32>(ldx_or0(rb + ib.x, okb.x), ldx_or0(rb + ib.y, okb.y), ldx_or0(rb + ib.z, okb.z), ldx_or0(rb + ib.w, okb.w));
#endif
    for (var kx = 0u; kx < P.kw; kx++) {
      let wv = ld_wt(wrow + kx);
      a0 += wv * w0;
      let inext = ix0 + i32(kx) + OX;
      let nv = ldx_or0(rb + inext, inext >= 0 && inext < wi);
#if OX == 8
      a1 += wv * w1;
      w0 = vec4<f32>(w0.yzw, w1.x);
      w1 = vec4<f32>(w1.yzw, nv);
#else
      w0 = vec4<f32>(w0.yzw, nv);
#endif
    }
  }
  let b = bias_of(co);
  let ob = (pl * P.ho + oy) * P.wo + ox0;
  store_run(ob, act4(a0 + b), min(4u, P.wo - ox0));
#if OX == 8
  if (ox0 + 4u < P.wo) {
    store_run(ob + 4u, act4(a1 + b), min(4u, P.wo - ox0 - 4u));
  }
#endif
}

#endif

// ---------------------------------------------------------------- gemm (1×1 conv, conv-transpose k == s)
#if X && WT
// Rows m of y' (M = Cout, or Cout·kh·kw when transposed), K = Cin, pixels p of x's H·W. One invocation:
// MT rows × PXT pixels (PXT / 4 quads). VEC_X needs H·W % 4 == 0; VEC_W (transposed only) needs M % 4 == 0
// and MT % 4 == 0.
// workgroups: [ceil(H·W / PXT / WG), ceil(M / MT), N]

#ifndef PXT
#define PXT 8
#endif
const PV = PXT / 4;

#if TRANSPOSE
// Output index of row m, input pixel p (kernel == stride: every output pixel has exactly one source).
fn t_index(n: u32, m: u32, p: u32) -> u32 {
  let taps = P.kh * P.kw;
  let co = m / taps;
  let t = m - co * taps;
  let ky = t / P.kw;
  let kx = t - ky * P.kw;
  let iy = p / P.w;
  let ix = p - iy * P.w;
  return ((n * P.cout + co) * P.ho + iy * P.sh + ky) * P.wo + ix * P.sw + kx;
}
#endif

@compute @workgroup_size(WG)
fn gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let np = P.h * P.w;
  let p0 = gid.x * PXT;
  if (p0 >= np) { return; }
  let m0 = wid.y * MT;
  let n = wid.z;
#if TRANSPOSE
  let mm = P.cout * P.kh * P.kw;
#else
  let mm = P.cout;
#endif
  let k_n = P.cin;

  var acc: array<array<vec4<f32>, PV>, MT>;
  for (var c = 0u; c < MT; c++) {
    for (var v = 0u; v < PV; v++) { acc[c][v] = vec4<f32>(0.0); }
  }
  // Pixel quads past this image's last pixel are clamped (read but never stored).
#if VEC_X
  var qo: array<u32, PV>;
  let lastq = np / 4u - 1u;
  for (var v = 0u; v < PV; v++) { qo[v] = min(p0 / 4u + v, lastq); }
  var xb = n * k_n * (np / 4u);
  let xstep = np / 4u;
#else
  var po: array<vec4<u32>, PV>;
  for (var v = 0u; v < PV; v++) {
    po[v] = min(vec4<u32>(p0 + 4u * v) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(np - 1u));
  }
  var xb = n * k_n * np;
  let xstep = np;
#endif
#if TRANSPOSE
#if VEC_W
  let mq = mm / 4u;
  var wq: array<u32, MT / 4>;
  for (var c4 = 0u; c4 < MT / 4u; c4++) { wq[c4] = min(m0 / 4u + c4, mq - 1u); }
#else
  var wm: array<u32, MT>;
  for (var c = 0u; c < MT; c++) { wm[c] = min(m0 + c, mm - 1u); }
#endif
#else
  var woff: array<u32, MT>;
  for (var c = 0u; c < MT; c++) { woff[c] = min(m0 + c, mm - 1u) * k_n; }
#endif

  for (var k = 0u; k < k_n; k++) {
    var xv: array<vec4<f32>, PV>;
    for (var v = 0u; v < PV; v++) {
#if VEC_X
      xv[v] = ldq_x(xb + qo[v]);
#else
      let i = xb + po[v];
      xv[v] = vec4<f32>(ld_x(i.x), ld_x(i.y), ld_x(i.z), ld_x(i.w));
#endif
    }
#if TRANSPOSE
#if VEC_W
    let wrow = k * mq;
    for (var c4 = 0u; c4 < MT / 4u; c4++) {
      let wv = ldq_wt(wrow + wq[c4]);
      for (var v = 0u; v < PV; v++) {
        acc[4u * c4][v] += wv.x * xv[v];
        acc[4u * c4 + 1u][v] += wv.y * xv[v];
        acc[4u * c4 + 2u][v] += wv.z * xv[v];
        acc[4u * c4 + 3u][v] += wv.w * xv[v];
      }
    }
#else
    let wrow = k * mm;
    for (var c = 0u; c < MT; c++) {
      let wv = ld_wt(wrow + wm[c]);
      for (var v = 0u; v < PV; v++) { acc[c][v] += wv * xv[v]; }
    }
#endif
#else
    for (var c = 0u; c < MT; c++) {
      let wv = ld_wt(woff[c] + k);
      for (var v = 0u; v < PV; v++) { acc[c][v] += wv * xv[v]; }
    }
#endif
    xb += xstep;
  }

#if TRANSPOSE
  let taps = P.kh * P.kw;
  for (var j = 0u; j < PXT; j++) {
    let p = p0 + j;
    if (p >= np) { break; }
    for (var c = 0u; c < MT; c += 2u) {
      let ma = m0 + c;
      let mb = ma + 1u;
      if (ma >= mm) { break; }
      let va = act1(acc[c][j / 4u][j % 4u] + bias_of(ma / taps));
      let ia = t_index(n, ma, p);
      if (mb < mm) {
        let vb = act1(acc[c + 1u][j / 4u][j % 4u] + bias_of(mb / taps));
        let ib = t_index(n, mb, p);
        if (ib == ia + 1u && (ia & 1u) == 0u) {
          st2_y(ia, vec2<f32>(va, vb));
        } else {
          st_y(ia, va);
          st_y(ib, vb);
        }
      } else {
        st_y(ia, va);
      }
    }
  }
#else
  for (var c = 0u; c < MT; c++) {
    let m = m0 + c;
    if (m >= mm) { break; }
    let b = bias_of(m);
    let ob = (n * mm + m) * np;
    for (var v = 0u; v < PV; v++) {
      let pv = p0 + 4u * v;
      if (pv >= np) { break; }
      store_run(ob + pv, act4(acc[c][v] + b), min(4u, np - pv));
    }
  }
#endif
}
#endif
