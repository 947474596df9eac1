/**
 * `tsx bench/peers/table.ts file.json [file.json ...]`: the tables of saved peer-benchmark results (also
 * partial ones), one per target; files of the same target are merged in the order given.
 */
import { readFileSync } from 'node:fs';
import { formatTable, type CaseResult } from './common.js';

interface Doc {
  target: string;
  driver?: string;
  partial?: boolean;
  options?: { reps: number; warmup: number };
  adapters?: Record<string, unknown>;
  results: CaseResult[];
}

const groups = new Map<string, { docs: Doc[]; files: string[] }>();
for (const f of process.argv.slice(2)) {
  const d = JSON.parse(readFileSync(f, 'utf8')) as Doc;
  const key = d.target === 'node' ? `Node, ${d.driver}` : 'Chromium';
  const g = groups.get(key) ?? { docs: [], files: [] };
  g.docs.push(d);
  g.files.push(f);
  groups.set(key, g);
}
for (const [key, g] of groups) {
  const results = g.docs.flatMap((d) => d.results);
  const reps = [...new Set(g.docs.map((d) => d.options?.reps))].join('/');
  const warmup = [...new Set(g.docs.map((d) => d.options?.warmup ?? 1))].join('/');
  console.log(`\n### ${key} (median ms of ${reps} runs after ${warmup} warm-up)${g.docs.some((d) => d.partial) ? ' — partial run' : ''}\n`);
  console.log(formatTable(results));
}
