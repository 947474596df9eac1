/**
 * Invocations per workgroup of the one-dimensional kernels (binary, conv2d, elementwise, layout,
 * mask_select, pool, resize, rope): each dispatcher passes it to its WGSL file as the WG define and sizes its
 * grid with it, so the two never disagree.
 */
export const WG = 64;
