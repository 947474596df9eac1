/**
 * The GPU device kit (bench/gpu): it must fit what a device call can send, and it must run from its own
 * unpacked files. Packs it with `--fast` (xz -6: every size an upper bound of the real kit's) into a
 * temporary folder, checks the budget from its MANIFEST, then runs `bench/gpu/run.sh --local` on that kit
 * for the adapter and correctness phases: the bundled kernel and parity test files on this machine's
 * adapter, unpacked into a temporary root as on the device.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = mkdtempSync(join(tmpdir(), 'sam2-webgpu-kit-test-'));
const kit = join(work, 'kit');

afterAll(() => rmSync(work, { recursive: true, force: true }));

function sh(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('bash', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the GPU device kit', () => {
  it('packs within the budget of a device call (56 MiB with the tree)', () => {
    const r = sh(['bench/gpu/pack.sh', '--fast', '--out', kit]);
    expect(r.status, r.out.slice(-3000)).toBe(0);
    const manifest = readFileSync(join(kit, 'MANIFEST.txt'), 'utf8');
    const sizes = Object.fromEntries([...(/^sizes: (.*)$/m.exec(manifest)?.[1] ?? '').matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
    console.log(`gpu kit (--fast, upper bounds): ${Object.entries(sizes).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(2)} MiB`).join(', ')}`);
    expect(sizes.budget).toBe(56 * 2 ** 20);
    for (const part of ['runtime', 'app', 'debs', 'wheels', 'tree']) expect(sizes[part], part).toBeGreaterThan(0);
    // The total is the parts plus MANIFEST.txt itself (a few hundred bytes).
    const parts = sizes.runtime + sizes.app + sizes.debs + sizes.wheels + sizes.tree;
    expect(sizes.total - parts).toBeGreaterThan(0);
    expect(sizes.total - parts).toBeLessThan(4096);
    expect(sizes.total).toBeLessThanOrEqual(sizes.budget);
    expect(readdirSync(join(kit, 'debs')).some((f) => /^libvulkan1_.*_amd64\.deb$/.test(f))).toBe(true);
    expect(readdirSync(join(kit, 'wheels')).some((f) => /^sam2-1\.1\.0-py3-none-any\.whl$/.test(f))).toBe(true);
  });

  it('runs from the unpacked kit: adapter info, then every kernel and carried parity test file passing', () => {
    expect(existsSync(join(kit, 'app.tar.xz')), 'the pack test runs first').toBe(true);
    const out = join(work, 'out');
    const r = sh(['bench/gpu/run.sh', '--local', '--kit', kit, '--out', out, '--phases', 'info,checks']);
    expect(r.status, r.out.slice(-3000)).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'gpu-results.json'), 'utf8'));
    expect(results.info.adapter.vendor.length).toBeGreaterThan(0);
    expect(results.checks.done).toBe(true);
    expect(results.checks.failed).toBe(0);
    // Every kernel test file and the four parity files ran (268 tests when this was written).
    const files = new Set(results.checks.tests.map((t: { file: string }) => t.file));
    expect(files.size).toBe(20);
    expect(results.checks.passed).toBeGreaterThan(250);
    const md = readFileSync(join(out, 'gpu-results.md'), 'utf8');
    expect(md).toMatch(/passed, 0 failed/);
    expect(existsSync(join(out, 'phases.tar.gz'))).toBe(true);
    expect(existsSync(join(out, 'run.log'))).toBe(true);
  });
});
