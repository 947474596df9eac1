// 2-D convolution on NCHW tensors, PyTorch's semantics (cross-correlation, zero padding), with an optional
// bias + activation epilogue. Four entry points share one binding layout (x, w, [bias], y) and one
// uniform block:
//
//   direct     any stride / padding / dilation / groups. One invocation: CO_T output channels × 4
//              consecutive output pixels (flattened over Ho·Wo) of one image; implicit-GEMM loop over
//              Cin/G · kh · kw. Weights are uniform across a workgroup (channel block = workgroup_id.y).
//   depthwise  one input channel per output channel, stride 1, dilation 1 (the CXBlock 7×7): one
//              invocation: OX consecutive outputs of a row; each kernel row slides a register window
//              over the input, so a row costs kw + OX loads for OX·kw FMAs.
//   gemm       1×1 convolution (TRANSPOSE = 0): y[n] = W[Cout, Cin] · x[n][Cin, H·W]; or transposed
//              convolution with kernel == stride (TRANSPOSE = 1): y'[n] = Wᵀ · x[n] with W viewed as
//              [Cin, Cout·kh·kw] (PyTorch's ConvTranspose2d weight layout), each row m = (co, ky, kx)
//              of y' scattered to y[n, co, iy·sh + ky, ix·sw + kx]. One invocation: MT rows × 4 pixels.
//
// Defines: ACT (0 none, 1 GELU, 2 ReLU), HAS_BIAS, CO_T (direct), OX (depthwise: 4 or 8), MT (gemm: 4 or
// 8), TRANSPOSE (gemm). Shapes are uniforms.
#include "common.wgsl"

struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, ho: u32, wo: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, dh: u32, dw: u32, cin_g: u32,
  cout_g: u32, _p0: u32, _p1: u32, _p2: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#tensor x 1 read
#tensor wt 2 read
#if HAS_BIAS
#tensor bias 3 read
#tensor y 4 write
#else
#tensor y 3 write
#endif

#ifndef CO_T
#define CO_T 4
#endif
#ifndef OX
#define OX 4
#endif
#ifndef MT
#define MT 4
#endif

fn act1(v: f32) -> f32 {
#if ACT == 1
  return gelu(v);
#elif ACT == 2
  return max(v, 0.0);
#else
  return v;
#endif
}

fn act4(v: vec4<f32>) -> vec4<f32> {
#if ACT == 1
  return vec4<f32>(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w));
#elif ACT == 2
  return max(v, vec4<f32>(0.0));
#else
  return v;
#endif
}

fn bias_of(co: u32) -> f32 {
#if HAS_BIAS
  return ld_bias(co);
#else
  return 0.0;
#endif
}

// Stores cnt (1..4) consecutive values at y[i..]: a whole aligned quad at once, otherwise aligned pairs
// with st2 and lone values with st (a compare-exchange in the packed-f16 mode).
fn store_run(i: u32, v: vec4<f32>, cnt: u32) {
  if (cnt == 4u && (i & 3u) == 0u) {
    st4_y(i, v);
    return;
  }
  var k = 0u;
  loop {
    if (k >= cnt) { break; }
    if (((i + k) & 1u) == 0u && k + 1u < cnt) {
      st2_y(i + k, vec2<f32>(v[k], v[k + 1u]));
      k += 2u;
    } else {
      st_y(i + k, v[k]);
      k += 1u;
    }
  }
}

// x[idx] where ok, else 0 (the clamped index keeps the read in bounds).
fn ldx_or0(idx: i32, ok: bool) -> f32 {
  return select(0.0, ld_x(u32(max(idx, 0))), ok);
}

// ---------------------------------------------------------------- direct
// workgroups: [ceil(Ho·Wo / 4 / 64), ceil(Cout / CO_T), N]

@compute @workgroup_size(64)
fn direct(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let hwo = P.ho * P.wo;
  let p0 = gid.x * 4u;
  if (p0 >= hwo) { return; }
  let co0 = wid.y * CO_T;
  let n = wid.z;
  let khw = P.kh * P.kw;
  let plane = P.h * P.w;

  let p = min(vec4<u32>(p0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(hwo - 1u));
  let oy = p / P.wo;
  let ox = p - oy * P.wo;
  let iy0 = vec4<i32>(oy * P.sh) - i32(P.ph);
  let ix0 = vec4<i32>(ox * P.sw) - i32(P.pw);
  let hi = i32(P.h);
  let wi = i32(P.w);

  // Weight offsets of each channel of the block (clamped to the last channel past Cout).
  var woff: array<u32, CO_T>;
  for (var c = 0u; c < CO_T; c++) {
    woff[c] = min(co0 + c, P.cout - 1u) * P.cin_g * khw;
  }
  var acc: array<vec4<f32>, CO_T>;
  for (var c = 0u; c < CO_T; c++) { acc[c] = vec4<f32>(0.0); }

  let ci0 = (co0 / P.cout_g) * P.cin_g;
  var xb = i32((n * P.cin + ci0) * plane);
  var wb = 0u;
  for (var ci = 0u; ci < P.cin_g; ci++) {
    for (var ky = 0u; ky < P.kh; ky++) {
      let iy = iy0 + i32(ky * P.dh);
      let rowok = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(hi));
      let rb = vec4<i32>(xb) + iy * wi;
      for (var kx = 0u; kx < P.kw; kx++) {
        let ix = ix0 + i32(kx * P.dw);
        let ok = rowok & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(wi));
        let idx = rb + ix;
        let xv = vec4<f32>(ldx_or0(idx.x, ok.x), ldx_or0(idx.y, ok.y), ldx_or0(idx.z, ok.z), ldx_or0(idx.w, ok.w));
        let k = wb + ky * P.kw + kx;
        for (var c = 0u; c < CO_T; c++) {
          acc[c] += ld_wt(woff[c] + k) * xv;
        }
      }
    }
    xb += i32(plane);
    wb += khw;
  }

  let cnt = min(4u, hwo - p0);
  for (var c = 0u; c < CO_T; c++) {
    let co = co0 + c;
    if (co < P.cout) {
      store_run((n * P.cout + co) * hwo + p0, act4(acc[c] + bias_of(co)), cnt);
    }
  }
}

// ---------------------------------------------------------------- depthwise (stride 1, dilation 1)
// workgroups: [ceil(Ho · ceil(Wo / OX) / 64), N·Cout]

@compute @workgroup_size(64)
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
    // Window of OX inputs under the kernel's column kx; shifts left by one per column.
    let ia = ix0 + dx;
    let oka = (ia >= vec4<i32>(0)) & (ia < vec4<i32>(wi));
    var w0 = vec4<f32>(ldx_or0(rb + ia.x, oka.x), ldx_or0(rb + ia.y, oka.y), ldx_or0(rb + ia.z, oka.z), ldx_or0(rb + ia.w, oka.w));
#if OX == 8
    let ib = ia + 4;
    let okb = (ib >= vec4<i32>(0)) & (ib < vec4<i32>(wi));
    var w1 = vec4<f32>(ldx_or0(rb + ib.x, okb.x), ldx_or0(rb + ib.y, okb.y), ldx_or0(rb + ib.z, okb.z), ldx_or0(rb + ib.w, okb.w));
#endif
    let wrow = wb + ky * P.kw;
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

// ---------------------------------------------------------------- gemm (1×1 conv, conv-transpose k == s)
// Rows m of y' (M = Cout, or Cout·kh·kw when transposed), K = Cin, pixels p of x's H·W.
// workgroups: [ceil(H·W / 4 / 64), ceil(M / MT), N]

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

@compute @workgroup_size(64)
fn gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let np = P.h * P.w;
  let p0 = gid.x * 4u;
  if (p0 >= np) { return; }
  let m0 = wid.y * MT;
  let n = wid.z;
#if TRANSPOSE
  let mm = P.cout * P.kh * P.kw;
#else
  let mm = P.cout;
#endif
  let k_n = P.cin;
  let last = np - 1u;
  let pj = min(vec4<u32>(p0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));

  var acc: array<vec4<f32>, MT>;
  for (var c = 0u; c < MT; c++) { acc[c] = vec4<f32>(0.0); }
#if !TRANSPOSE
  var woff: array<u32, MT>;
  for (var c = 0u; c < MT; c++) { woff[c] = min(m0 + c, mm - 1u) * k_n; }
#endif
  var xb = n * k_n * np;
  for (var k = 0u; k < k_n; k++) {
    let xv = vec4<f32>(ld_x(xb + pj.x), ld_x(xb + pj.y), ld_x(xb + pj.z), ld_x(xb + pj.w));
#if TRANSPOSE
    let wrow = k * mm;
    for (var c = 0u; c < MT; c++) {
      acc[c] += ld_wt(wrow + min(m0 + c, mm - 1u)) * xv;
    }
#else
    for (var c = 0u; c < MT; c++) {
      acc[c] += ld_wt(woff[c] + k) * xv;
    }
#endif
    xb += np;
  }

#if TRANSPOSE
  let taps = P.kh * P.kw;
  for (var j = 0u; j < 4u; j++) {
    let p = p0 + j;
    if (p > last) { break; }
    for (var c = 0u; c < MT; c += 2u) {
      let ma = m0 + c;
      let mb = ma + 1u;
      if (ma >= mm) { break; }
      let va = act1(acc[c][j] + bias_of(ma / taps));
      let ia = t_index(n, ma, p);
      if (mb < mm) {
        let vb = act1(acc[c + 1u][j] + bias_of(mb / taps));
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
  let cnt = min(4u, np - p0);
  for (var c = 0u; c < MT; c++) {
    let m = m0 + c;
    if (m < mm) {
      store_run((n * mm + m) * np + p0, act4(acc[c] + bias_of(m)), cnt);
    }
  }
#endif
}
