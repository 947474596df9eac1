// 2-D axial rotary position embedding, as SAM 2's RoPEAttention applies it to q and k: consecutive pairs
// (x[2p], x[2p+1]) of token l are multiplied as complex numbers by cis(position, p), where the position is
// t = l mod (end_x·end_y) (rope_k_repeat: keys of several memory frames share the positions), x = t mod end_x,
// y = t / end_x; pairs p < D/4 turn by x·freq[p], the others by y·freq[p - D/4]. Tokens l >= rot (the object
// pointers of num_k_exclude_rope) are left as they are.
//
// cos and sin come from a table made once on the host with PyTorch's f32 steps (see src/kernels/rope.ts):
// tab[(x · D/4 + i) · 2 + {0, 1}] for the x half, tab[((end_x + y) · D/4 + i) · 2 + {0, 1}] for the y half.
// GPU cos / sin of angles up to end_x are far less exact than that.
//
// Element (b, h, l, d) of x is at x_off + b·x_sb + h·x_sh + l·x_sl + d (likewise y), so head-major
// [B, H, L, D] and token-major [B, L, H·D] tensors are both read in place. One invocation per 4 elements
// (two pairs) of a row.
//
// Defines: WG (invocations per workgroup); INPLACE 1: x is rotated in place (rows past rot are not
// touched); 0: y = rotated x (rows past rot copied).
#include "common.wgsl"

struct Params {
  n: u32, chunks: u32, len: u32, heads: u32,
  rot: u32, period: u32, end_x: u32, quarter: u32,
  x_off: u32, x_sb: u32, x_sh: u32, x_sl: u32,
  y_off: u32, y_sb: u32, y_sh: u32, y_sl: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#tensor tab 1 read f32
#if INPLACE
#tensor x 2 read_write
#else
#tensor x 2 read
#tensor y 3 write
#endif

// (cos, sin) of pair p of a token at (px, py).
fn cis(p: u32, px: u32, py: u32) -> vec2<f32> {
  var i: u32;
  if (p < P.quarter) {
    i = px * P.quarter + p;
  } else {
    i = (P.end_x + py) * P.quarter + (p - P.quarter);
  }
  return vec2<f32>(ld_tab(2u * i), ld_tab(2u * i + 1u));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_id(gid, nwg, WG);
  if (id >= P.n) { return; }
  let c = id % P.chunks;
  let r = id / P.chunks;
  let l = r % P.len;
  let bh = r / P.len;
  let h = bh % P.heads;
  let b = bh / P.heads;
  let xi = P.x_off + b * P.x_sb + h * P.x_sh + l * P.x_sl + 4u * c;
  var val = ld4_x(xi);
  if (l < P.rot) {
    let t = l % P.period;
    let px = t % P.end_x;
    let py = t / P.end_x;
    let c0 = cis(2u * c, px, py);
    let c1 = cis(2u * c + 1u, px, py);
    val = vec4<f32>(val.x * c0.x - val.y * c0.y, val.x * c0.y + val.y * c0.x,
                    val.z * c1.x - val.w * c1.y, val.z * c1.y + val.w * c1.x);
#if INPLACE
    st4_x(xi, val);
#endif
  }
#if !INPLACE
  st4_y(P.y_off + b * P.y_sb + h * P.y_sh + l * P.y_sl + 4u * c, val);
#endif
}
