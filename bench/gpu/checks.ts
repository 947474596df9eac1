/**
 * Correctness on the device before any timing: the kernel test files (every kernel against its CPU
 * reference, on the routes this adapter takes, in f32, f16 where the adapter has shader-f16, and packed f16)
 * and the module parity files whose fixtures the kit carries (prompt encoder, mask decoder, memory encoder,
 * memory attention against the official PyTorch tensors, with the bounds of test/parity_bounds.json), run as
 * they are through bench/gpu/vitest_shim.ts.
 *
 *   node checks.mjs [--out checks.json] [--files kernels/matmul,model/mask_decoder] [--list]
 *
 * Prints one line per test and a summary. Exits 0 when every test passed or was skipped; 3 when the only
 * failures are f16 / packed-f16 parity checks above their bounds (the bounds were measured on the routes CPU
 * adapters take, and another adapter's routes round f16 differently: the run goes on to the timings, and the
 * report names every such failure); 1 for any other failure. In the kit's bundle the test files'
 * data sit beside the bundle (data/*.json for the kernel files, tiny256/ for the fixtures), where the files
 * look for them relative to their own module.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { blocking } from './report.js';
import { collectFile, runFile, type TestOutcome } from './vitest_shim.js';

/** The test files the kit runs, by their name in test/parity_bounds.json ('kernels/matmul'). */
// The module files read test/fixtures/tiny256 files that bench/gpu/pack.sh carries (its list must match).
const FILES: Record<string, () => Promise<unknown>> = {
  'kernels/attention': () => import('../../test/kernels/attention.test.js'),
  'kernels/baseline': () => import('../../test/kernels/baseline.test.js'),
  'kernels/binary': () => import('../../test/kernels/binary.test.js'),
  'kernels/conv2d': () => import('../../test/kernels/conv2d.test.js'),
  'kernels/elementwise': () => import('../../test/kernels/elementwise.test.js'),
  'kernels/layout': () => import('../../test/kernels/layout.test.js'),
  'kernels/mask_select': () => import('../../test/kernels/mask_select.test.js'),
  'kernels/matmul': () => import('../../test/kernels/matmul.test.js'),
  'kernels/norm': () => import('../../test/kernels/norm.test.js'),
  'kernels/pil_resize': () => import('../../test/kernels/pil_resize.test.js'),
  'kernels/pool': () => import('../../test/kernels/pool.test.js'),
  'kernels/resize': () => import('../../test/kernels/resize.test.js'),
  'kernels/rope': () => import('../../test/kernels/rope.test.js'),
  'kernels/sdpa': () => import('../../test/kernels/sdpa.test.js'),
  'kernels/softmax': () => import('../../test/kernels/softmax.test.js'),
  'kernels/tracking': () => import('../../test/kernels/tracking.test.js'),
  'model/prompt_encoder': () => import('../../test/model/prompt_encoder.test.js'),
  'model/mask_decoder': () => import('../../test/model/mask_decoder.test.js'),
  'model/memory_encoder': () => import('../../test/model/memory_encoder.test.js'),
  'model/memory_attention': () => import('../../test/model/memory_attention.test.js'),
};


function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  if (process.argv.includes('--list')) {
    console.log(Object.keys(FILES).join('\n'));
    return;
  }
  const names = arg('files')?.split(',') ?? Object.keys(FILES);
  const unknown = names.filter((n) => !FILES[n]);
  if (unknown.length) throw new Error(`checks: unknown test file ${unknown.join(', ')} (--list names them)`);
  const out = arg('out');
  const all: TestOutcome[] = [];
  const started = performance.now();
  const save = (done: boolean) => {
    if (!out) return;
    const failed = all.filter((o) => o.status === 'failed').length;
    const doc = { done, seconds: (performance.now() - started) / 1000, passed: all.filter((o) => o.status === 'passed').length, failed, blocking: blocking(all).length, skipped: all.filter((o) => o.status === 'skipped').length, tests: all };
    writeFileSync(`${out}.tmp`, JSON.stringify(doc, null, 1));
    renameSync(`${out}.tmp`, out);
  };
  for (const name of names) {
    const t0 = performance.now();
    let outcomes: TestOutcome[];
    try {
      const root = await collectFile(`test/${name}.test.ts`, FILES[name]);
      outcomes = await runFile(root, name, (o) => {
        const mark = o.status === 'passed' ? 'ok  ' : o.status === 'skipped' ? 'skip' : 'FAIL';
        console.log(`${mark} ${name} > ${o.name} (${o.ms.toFixed(0)} ms)${o.error ? `\n       ${o.error.split('\n').join('\n       ')}` : ''}`);
      });
    } catch (e) {
      outcomes = [{ file: name, name: '(loading the file)', status: 'failed', ms: 0, error: String((e as Error)?.stack ?? e) }];
      console.log(`FAIL ${name}: ${outcomes[0].error}`);
    }
    all.push(...outcomes);
    const f = outcomes.filter((o) => o.status === 'failed').length;
    console.log(`${f ? 'FAIL' : 'ok  '} ${name}: ${outcomes.length - f} of ${outcomes.length} passed or skipped in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    save(false);
  }
  save(true);
  const failed = all.filter((o) => o.status === 'failed');
  const skipped = all.filter((o) => o.status === 'skipped').length;
  console.log(`\nchecks: ${all.length - failed.length - skipped} passed, ${skipped} skipped, ${failed.length} failed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (failed.length) {
    console.log(`failed:\n${failed.map((o) => `  ${o.file} > ${o.name}: ${o.error?.split('\n')[0]}`).join('\n')}`);
    const stop = blocking(all).length > 0;
    if (!stop) console.log('checks: the only failures are f16 parity checks above bounds measured on CPU adapters; f32 and every kernel check passed');
    process.exitCode = stop ? 1 : 3;
  }
  // The test files' GPUs (test/helpers.ts) stay open; end the process once the results are out.
  process.exit(process.exitCode ?? 0);
}

try {
  await main();
} catch (e) {
  // The message and stack only: an uncaught error would also print the bundle's (minified) source line.
  console.error(`checks: ${(e as Error)?.stack ?? e}`);
  process.exit(1);
}
