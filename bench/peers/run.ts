/**
 * `npm run bench:peers [-- --full] [--targets lavapipe,swiftshader,chromium] [--modules a,b] [--sizes 256,512]
 *     [--reps N] [--warmup N]`
 *
 * Our engine against onnxruntime on the same adapter, the same official modules (exported by
 * tools/reference/export_onnx.py with the synthetic weights), the same inputs: Node on Mesa lavapipe and
 * on SwiftShader (bench/peers/node.ts, one process per driver), and headless Chromium (SwiftShader;
 * bench/peers/browser.ts). Default: a check (--quick: image size 256, 1 warm-up, 3 runs); --full: 256 and
 * 512, 1 warm-up, 5 runs (about an hour and a half on two CPU cores: onnxruntime's WebGPU EP takes minutes
 * per call on a software adapter). Prints one table per target and a summary against the goal (every
 * module at least 2× faster than onnxruntime's WebGPU EP); JSON under bench/results/. `--modules` also
 * takes `frame1`, `frame3`: a whole tracked frame with a full memory bank for 1 / 3 objects (bench/peers/frame.ts;
 * not in the default list).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaseResult } from './common.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

const USAGE = `Usage: npm run bench:peers [-- --full] [--targets lavapipe,swiftshader,chromium] [--modules a,b]
           [--sizes 256,512] [--reps N] [--warmup N]

Our engine against onnxruntime (onnxruntime-node, onnxruntime-web: installed into bench/peers/node_modules
on the first run) on the same adapter. Needs the exported ONNX models in bench/peers/models:
  bash tools/reference/setup.sh && tools/reference/.venv/bin/python tools/reference/export_onnx.py
(SAM2_PEERS_MODELS=DIR reads them from elsewhere). Default: image size 256, 1 warm-up, 3 runs; --full: 256
and 512, 1 warm-up, 5 runs. Modules: encoder, memory_attention, mask_decoder, memory_encoder (default), and
frame1, frame3 (a whole tracked frame, 1 / 3 objects). See bench/peers/README.md.`;

function main(): void {
  const argv = process.argv.slice(2);
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  if (!existsSync(join(here, 'models', 'manifest.json')) && !process.env.SAM2_PEERS_MODELS) {
    console.error(
      'bench:peers: no exported models in bench/peers/models; make them with: ' +
        'bash tools/reference/setup.sh && tools/reference/.venv/bin/python tools/reference/export_onnx.py',
    );
    process.exit(1);
  }
  const full = argv.includes('--full');
  const pass: string[] = [];
  for (const k of ['modules', 'sizes', 'reps', 'warmup']) if (get(k)) pass.push(`--${k}`, get(k)!);
  if (!full) pass.push('--quick');
  const targets = (get('targets') ?? 'lavapipe,swiftshader,chromium').split(',');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const summary: string[] = [];
  for (const t of targets) {
    const out = join(root, 'bench', 'results', `peers-${t}-${full ? 'full' : 'quick'}-${stamp}.json`);
    const script = t === 'chromium' ? join(here, 'browser.ts') : join(here, 'node.ts');
    const extra = t === 'chromium' ? [] : ['--driver', t];
    console.log(`\n=== ${t} ===`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...extra, ...pass, '--out', out], { stdio: 'inherit', cwd: root });
    if (r.status !== 0 || !existsSync(out)) {
      summary.push(`${t}: failed (exit ${r.status})`);
      continue;
    }
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { results: CaseResult[] };
    const peer = t === 'chromium' ? 'ortweb-webgpu' : 'ort-webgpu';
    const ratios = doc.results.flatMap((c) => {
      const ours = c.runtimes.find((x) => x.id === 'ours');
      const p = c.runtimes.find((x) => x.id === peer);
      return ours && p && Number.isFinite(ours.medianMs) && Number.isFinite(p.medianMs) ? [{ c: c.case, r: p.medianMs / ours.medianMs }] : [];
    });
    const met = ratios.filter((x) => x.r >= 2);
    summary.push(
      `${t}: ours ≥ 2× faster than ${peer} in ${met.length} of ${ratios.length} cases` +
        (ratios.length > met.length ? ` (not: ${ratios.filter((x) => x.r < 2).map((x) => `${x.c} ${x.r.toFixed(2)}×`).join(', ')})` : ''),
    );
  }
  console.log(`\n=== goal: every module ≥ 2× faster than onnxruntime's WebGPU EP on the same adapter ===`);
  for (const s of summary) console.log(s);
}

main();
