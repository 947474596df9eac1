/**
 * Fuzzes the binary parsers (safetensors, zip, pickle) from the command line: `npm run fuzz`.
 *
 *   npm run fuzz                                   1,000,000 inputs per parser, a random seed
 *   npm run fuzz -- --runs 10000                   fewer inputs (or FUZZ_RUNS=10000)
 *   npm run fuzz -- --parser zip,pickle            some parsers only
 *   npm run fuzz -- --parser zip --seed S --path P replays the failing input a report printed
 *
 * Prints, per parser: inputs, seconds, inputs/s, accepted and rejected counts (with the most frequent
 * rejection reasons), and the slowest input. On a failure, prints the seed and path that reproduce it,
 * writes the failing input to a file, and exits with status 1. Imports no GPU code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeFailure, fuzzParser, PARSERS, type FuzzReport, type FuzzStats, type ParserName } from './parsers.js';

function usage(msg?: string): never {
  if (msg) console.error(`fuzz: ${msg}`);
  console.error('usage: npm run fuzz -- [--runs N] [--parser safetensors,zip,pickle] [--seed S [--path P]]');
  process.exit(2);
}

function parseArgs(argv: string[]): { runs: number; parsers: ParserName[]; seed?: number; path?: string } {
  let runs = Number(process.env.FUZZ_RUNS ?? 1_000_000);
  let parsers: ParserName[] = [...PARSERS];
  let seed: number | undefined = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
  let path: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--runs') runs = Number(value());
    else if (a === '--parser') {
      parsers = value().split(',') as ParserName[];
      for (const p of parsers) if (!PARSERS.includes(p)) usage(`unknown parser '${p}' (${PARSERS.join(', ')})`);
    } else if (a === '--seed') seed = Number(value());
    else if (a === '--path') path = value();
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument '${a}'`);
  }
  if (!Number.isSafeInteger(runs) || runs < 1) usage('--runs must be a positive integer');
  if (seed !== undefined && !Number.isSafeInteger(seed)) usage('--seed must be an integer');
  if (path !== undefined && parsers.length !== 1) usage('--path replays one parser: give --parser too');
  if (path !== undefined && seed === undefined) usage('--path needs the --seed it was found with');
  return { runs, parsers, seed, path };
}

const fmt = (n: number) => n.toLocaleString('en-US');

function summary(r: FuzzReport): string {
  const s = r.stats;
  const lines = [
    `${r.parser}: ${fmt(s.inputs)} inputs in ${r.seconds.toFixed(1)} s (${fmt(Math.round(s.inputs / r.seconds))} inputs/s), ` +
      `seed ${r.seed}`,
    `  accepted ${fmt(s.accepted)}, rejected ${fmt(s.rejected)} with a typed error; ` +
      `mean input ${fmt(Math.round(s.inputBytes / Math.max(1, s.inputs)))} bytes; slowest input ${s.slowestMs.toFixed(1)} ms`,
  ];
  const top = [...s.reasons].sort((a, b) => b[1] - a[1]).slice(0, 8);
  for (const [reason, n] of top) lines.push(`    ${fmt(n).padStart(9)}  ${reason}`);
  if (s.reasons.size > top.length) lines.push(`    … and ${s.reasons.size - top.length} other rejection kinds`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { runs, parsers, seed, path } = parseArgs(process.argv.slice(2));
  if (path) console.log(`replaying the ${parsers[0]} input of seed ${seed}, path ${path} (node ${process.version})`);
  else console.log(`fuzzing ${parsers.join(', ')}: ${fmt(runs)} inputs each (node ${process.version})`);
  let failed = false;
  for (const parser of parsers) {
    const t0 = Date.now();
    const report = await fuzzParser(parser, {
      runs,
      seed,
      path,
      progressEvery: Math.max(1000, Math.round(runs / 20)),
      onProgress: (s: FuzzStats) =>
        console.error(`  ${parser}: ${fmt(s.inputs)} / ${fmt(runs)} inputs, ${((Date.now() - t0) / 1000).toFixed(0)} s`),
    });
    console.log(summary(report));
    if (report.failure) {
      failed = true;
      console.log(describeFailure(report));
      if (report.failure.input) {
        const dir = join(tmpdir(), 'sam2-fuzz');
        mkdirSync(dir, { recursive: true });
        const file = join(dir, `${parser}-seed${report.seed}.bin`);
        writeFileSync(file, report.failure.input.bytes);
        console.log(`  failing input written to ${file}`);
      }
    }
  }
  console.log(`peak resident memory ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
