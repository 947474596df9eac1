/**
 * `npx tsx scripts/parity-encoder.ts [--configs t,s,b+,l] [--sizes 256] [--variants f32,f16,f16packed] [--full]`
 *
 * Slower parity checks of the image encoder outside CI: every official size against the official
 * forward_image, every Hiera block, the neck levels, the position encodings and conv_s0 / conv_s1, at the
 * tolerances of the issue (f32: cosine ≥ 0.99999 and max|Δ| ≤ 1e-3·max|ref|; f16 and packed f16: cosine ≥
 * 0.999 against the f32 reference). `--full` adds the tiny config at 1024.
 *
 * SAM 2 and SAM 2.1 share the encoder (same tensor names and shapes, hence the same synthetic weights), so
 * the 2.1 configs cover both; the script checks that the manifests agree.
 *
 * References: test/fixtures/full/tiny1024/image_encoder.safetensors when it exists (tiny at 1024), otherwise
 * written under scratch/encoder-reference/ by the official model (tools/reference/.venv, the harness's
 * synthetic weights and frame 0 of the bedroom video) on first use, all in f32. Exits non-zero on a failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cast } from '../src/kernels/layout.js';
import { parseConfigName, sam2Config } from '../src/checkpoint/config.js';
import { ImageEncoder } from '../src/model/image_encoder.js';
import type { ConfigName, Manifest } from '../src/checkpoint/manifests.js';
import { permuteRef } from '../src/kernels/layout.ref.js';
import { Gpu } from '../src/runtime/gpu.js';
import { openSafetensorsFile } from '../src/runtime/safetensors_node.js';
import type { SafetensorsReader } from '../src/runtime/safetensors.js';
import { decodeToF32 } from '../src/runtime/dtype.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { PARTS, syntheticModel } from '../test/model/modules.js';
import { parity, parityTable, type ParityResult, type ParityTolerance } from '../test/model/parity.js';

/** The fixed bounds of this script (its sizes are outside test/parity_bounds.json). */
function parityTolerance(variant: string): ParityTolerance {
  return variant === 'f32' ? { cosine: 0.99999, rel: 1e-3 } : { cosine: 0.999 };
}

const REF_DIR = 'scratch/encoder-reference';
const PYTHON = 'tools/reference/.venv/bin/python';
const FULL_FIXTURE = 'test/fixtures/full/tiny1024/image_encoder.safetensors';

/** Records forward_image's stages with forward hooks, as the fixture generator does, but every tensor in f32. */
const DUMP = String.raw`
import json, os, sys
sys.path.insert(0, 'tools/reference')
import torch, harness
from safetensors.torch import save_file
harness.set_determinism(2)
config, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = harness.build_predictor(config, size)
x = harness.normalize_u8(harness.resized_frames_u8(1, size))
enc = model.image_encoder
trunk = enc.trunk
rec = {}
hooks = [trunk.patch_embed.register_forward_hook(lambda m, i, o: rec.__setitem__('image_encoder.trunk.patch_embed', o.clone()))]
for b, blk in enumerate(trunk.blocks):
    hooks.append(blk.register_forward_hook(lambda m, i, o, b=b: rec.__setitem__(f'image_encoder.trunk.blocks.{b}', o.clone())))
def neck_hook(m, i, o):
    for k, t in enumerate(o[0]): rec[f'image_encoder.neck.out.{k}'] = t.clone()
    for k, t in enumerate(o[1]): rec[f'image_encoder.neck.pos.{k}'] = t.clone()
hooks.append(enc.neck.register_forward_hook(neck_hook))
with torch.inference_mode():
    bo = model.forward_image(x)
    rec['image_encoder.trunk.pos_embed.resized'] = trunk._get_pos_embed(rec['image_encoder.trunk.patch_embed'].shape[1:3])
rec['image_encoder.input'] = x
rec['sam_mask_decoder.conv_s0'] = bo['backbone_fpn'][0]
rec['sam_mask_decoder.conv_s1'] = bo['backbone_fpn'][1]
os.makedirs(os.path.dirname(out), exist_ok=True)
save_file({k: v.contiguous().float() for k, v in rec.items()}, out + '.tmp', metadata={'config': config, 'image_size': str(size)})
os.replace(out + '.tmp', out)
`;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const SHORT: Record<string, ConfigName> = { t: 'sam2.1_hiera_t', s: 'sam2.1_hiera_s', 'b+': 'sam2.1_hiera_b+', l: 'sam2.1_hiera_l' };

/** The encoder tensors of SAM 2 and SAM 2.1 agree in names and shapes (so their synthetic weights agree). */
function checkSharedEncoder(name: ConfigName): void {
  const other = name.replace('sam2.1_', 'sam2_') as ConfigName;
  const key = (m: Manifest) => m.tensors.map((t) => `${t.name}:${t.shape.join('x')}`).join('\n');
  if (key(PARTS.imageEncoder(name)) !== key(PARTS.imageEncoder(other))) throw new Error(`${name} and ${other} differ in their image encoders`);
}

function referencePath(name: ConfigName, size: number): string {
  if (name === 'sam2.1_hiera_t' && size === 1024 && existsSync(FULL_FIXTURE)) return FULL_FIXTURE;
  const p = join(REF_DIR, `${name}_${size}.safetensors`);
  if (!existsSync(p)) {
    mkdirSync(REF_DIR, { recursive: true });
    console.log(`writing ${p} with the official model ...`);
    const r = spawnSync(PYTHON, ['-c', DUMP, name, String(size), p], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the reference run failed (${PYTHON}; see tools/reference/README.md)`);
  }
  return p;
}

async function checkOne(gpu: Gpu, variant: string, name: ConfigName, size: number, ref: SafetensorsReader): Promise<ParityResult[]> {
  const dtype = variant === 'f32' ? 'f32' : 'f16';
  const weights = await syntheticModel(gpu, PARTS.imageEncoder(name), dtype);
  const { size: model, version } = parseConfigName(name);
  const enc = ImageEncoder.create({ gpu, weights }, sam2Config(model, version, { imageSize: size }));
  const get = async (n: string) => decodeToF32(ref.info(n).dtype, await ref.read(n));
  const rows: ParityResult[] = [];
  const tol = parityTolerance(variant);
  const add = (label: string, got: Float32Array, want: Float32Array) => {
    const r = parity(`${name}@${size} ${label}`, variant, got, want);
    const ok = r.cosine >= tol.cosine && (tol.rel === undefined || r.rel <= tol.rel);
    rows.push(r);
    if (!ok) failures.push(`${r.name} (${variant}): cosine ${r.cosine.toFixed(7)}, max|Δ|/max|ref| ${r.rel.toExponential(2)}`);
  };
  try {
    const input = gpu.upload(await get('image_encoder.input'), [1, 3, size, size], dtype, 'input');
    const kept = new Map<string, Tensor>();
    const t0 = performance.now();
    const f = enc.encode(input, { tap: (n, t) => kept.set(n, cast(gpu, t, dtype)) });
    await gpu.sync();
    console.log(`${name} @ ${size} ${variant}: encode ${(performance.now() - t0).toFixed(0)} ms (first run, with taps)`);
    input.release();
    add('trunk.pos_embed.resized', await gpu.read(enc.trunk.posEmbed()), await get('image_encoder.trunk.pos_embed.resized'));
    for (const [n, t] of kept) {
      if (!ref.has(n)) continue;
      const got = await gpu.read(t);
      add(n.replace('image_encoder.', ''), n.includes('neck.out') ? permuteRef(got, t.shape, [0, 3, 1, 2]) : got, await get(n));
      t.release();
    }
    for (let k = 0; k < enc.neck.levels; k++) {
      const n = `image_encoder.neck.pos.${k}`;
      const s = size / (4 << k);
      if (ref.has(n) && s <= 64) add(`neck.pos.${k}`, await gpu.read(enc.neck.positionEncoding(s, s)), await get(n));
    }
    add('conv_s0', await gpu.read(f.highRes[0]), await get('sam_mask_decoder.conv_s0'));
    add('conv_s1', await gpu.read(f.highRes[1]), await get('sam_mask_decoder.conv_s1'));
    add('visionFeatures', await gpu.read(f.visionFeatures), await get('image_encoder.neck.out.2'));
    f.release();
  } finally {
    enc.release();
    weights.release();
  }
  return rows;
}

const failures: string[] = [];

async function main(): Promise<void> {
  const configs = (arg('configs') ?? 't,s,b+,l').split(',').map((c) => SHORT[c] ?? (c as ConfigName));
  const sizes = (arg('sizes') ?? '256').split(',').map(Number);
  const variants = (arg('variants') ?? 'f32,f16,f16packed').split(',');
  const jobs: [ConfigName, number][] = [];
  for (const c of configs) for (const s of sizes) jobs.push([c, s]);
  if (process.argv.includes('--full')) jobs.push(['sam2.1_hiera_t', 1024]);
  const main = await Gpu.create();
  const packed = variants.includes('f16packed') ? await Gpu.create({ f16Mode: 'f16packed' }) : null;
  const all: ParityResult[] = [];
  for (const [name, size] of jobs) {
    checkSharedEncoder(name);
    const ref = await openSafetensorsFile(referencePath(name, size));
    try {
      for (const v of variants) {
        if (v === 'f16' && !main.info.features.f16) continue;
        const rows = await checkOne(v === 'f16packed' ? packed! : main, v, name, size, ref);
        all.push(...rows);
        const worst = rows.reduce((a, r) => (r.cosine < a.cosine ? r : a));
        console.log(`  worst: ${worst.name} cosine ${worst.cosine.toFixed(7)}, max rel ${Math.max(...rows.map((r) => r.rel)).toExponential(2)}`);
      }
    } finally {
      await ref.close();
    }
  }
  console.log(parityTable(all));
  main.destroy();
  packed?.destroy();
  if (failures.length) {
    console.error(`\n${failures.length} tensor(s) out of tolerance:\n${failures.join('\n')}`);
    process.exit(1);
  }
  console.log(`\nall ${all.length} comparisons within tolerance`);
}

await main();
