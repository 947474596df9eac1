// store_run(i, v, cnt): stores cnt (1..4) consecutive values at y[i..] of the kernel's output tensor y: a
// whole aligned quad at once, otherwise aligned pairs with st2 and lone values with st (a compare-exchange in
// the packed-f16 mode). Include it after `#tensor y`.
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
