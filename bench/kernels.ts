/**
 * `npm run bench [-- --filter matmul --dtype f16 --min-ms 2000 --out file.json]`
 *
 * Runs every case in bench/entries/*.ts on one adapter, baselines first (a no-op dispatch, an FMA
 * throughput kernel that estimates the adapter's peak, vector-load and subgroup-broadcast throughput
 * kernels), prints a table with median ms, GFLOPS, GB/s, % of the measured FMA peak and, for cases whose
 * loads and broadcasts are counted, the share the model predicts (harness.modelPercent: the share of the peak the case would reach
 * if its FMAs, loads and broadcasts took the baselines' time one after another), and writes the results as
 * JSON under bench/results/.
 */
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Gpu } from '../src/runtime/gpu.js';
import { modelPercent, issueRates, rateNote, runCase, type BenchCase, type BenchResult } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const isBaseline = (c: { kernel: string }) => /fma|noop|no-op|load_rate|broadcast_rate/i.test(c.kernel);

async function loadCases(): Promise<BenchCase[]> {
  const dir = join(here, 'entries');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
  const all: BenchCase[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { cases?: BenchCase[] };
    all.push(...(mod.cases ?? []));
  }
  // Entries that print their own tables include the baselines they need: run each case once.
  return [...new Set(all)].sort((a, b) => Number(isBaseline(b)) - Number(isBaseline(a)));
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

async function main(): Promise<void> {
  const filter = arg('filter');
  const dtype = arg('dtype');
  const minMs = Number(arg('min-ms') ?? 1000);
  const gpu = await Gpu.create();
  const info = gpu.info;
  console.log(`adapter: ${info.adapter} (${info.backend}), f16: ${info.features.f16}, timestamps: ${info.features.timestamps}`);
  const cases = (await loadCases()).filter(
    (c) => isBaseline(c) || ((!filter || new RegExp(filter, 'i').test(`${c.kernel} ${c.name}`)) && (!dtype || c.dtype === dtype)),
  );
  const results: BenchResult[] = [];
  let peak = NaN;
  const header = `${'kernel'.padEnd(16)} ${'case'.padEnd(40)} ${'dtype'.padEnd(5)} ${'median ms'.padStart(11)} ${'GFLOPS'.padStart(9)} ${'GB/s'.padStart(8)} ${'% peak'.padStart(7)} ${'model'.padStart(7)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const c of cases) {
    let r: BenchResult;
    try {
      r = await runCase(gpu, c, { minMs: isBaseline(c) ? Math.min(minMs, 1000) : minMs });
    } catch (e) {
      r = { kernel: c.kernel, name: c.name, dtype: c.dtype, medianMs: NaN, gflops: NaN, gbps: NaN, iterations: 0, skipped: String((e as Error).message) };
    }
    if (/fma/i.test(c.kernel) && Number.isFinite(r.gflops)) peak = Math.max(Number.isFinite(peak) ? peak : 0, r.gflops);
    const pct = c.flops > 0 && Number.isFinite(peak) && !isBaseline(c) ? (100 * r.gflops) / peak : NaN;
    // The baselines run first, so their rates are known by the time a case with counts runs.
    const model = isBaseline(c) ? NaN : modelPercent(r, peak, issueRates(results));
    results.push({ ...r, ...(Number.isFinite(pct) ? { percentOfPeak: pct } : {}), ...(Number.isFinite(model) ? { modelPercent: model } : {}) } as BenchResult);
    const rate = rateNote(r) && `  ${rateNote(r)}`;
    console.log(
      `${c.kernel.padEnd(16)} ${c.name.padEnd(40)} ${c.dtype.padEnd(5)} ${fmt(r.medianMs, 3).padStart(11)} ${(c.flops ? fmt(r.gflops) : '-').padStart(9)} ${(c.bytes ? fmt(r.gbps) : '-').padStart(8)} ${fmt(pct, 1).padStart(7)} ${fmt(model, 1).padStart(7)}${rate}${r.skipped ? `  skipped: ${r.skipped}` : ''}`,
    );
  }
  const out = arg('out') ?? join(here, 'results', `kernels-${info.backend}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  const doc = { date: new Date().toISOString(), adapter: info, fmaPeakGflops: peak, results };
  writeFileSync(out + '.tmp', JSON.stringify(doc, null, 2));
  renameSync(out + '.tmp', out);
  console.log(`\nFMA peak estimate: ${fmt(peak)} GFLOPS; results written to ${out}`);
  gpu.destroy();
}

await main();
