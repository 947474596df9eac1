/**
 * The README's API section is true: its code blocks run as written (in a folder laid out as a user's:
 * samples/ and weights/sam2.1_hiera_tiny.safetensors, here holding the synthetic weights; the package's
 * specifiers point at the sources), and every name it shows in backticks is exported by the package or is a
 * method of an exported class.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticWeights } from './synthetic_file.js';

const repo = resolve(__dirname, '..');
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const api = readme.slice(readme.indexOf('\n## API\n'), readme.indexOf('\n## ', readme.indexOf('\n## API\n') + 5));

/** The package's entry points (package.json exports) and the sources they are built from. */
const ENTRIES: Record<string, string> = {
  'sam2-webgpu': 'src/index.ts',
  'sam2-webgpu/node': 'src/node.ts',
  'sam2-webgpu/kernels': 'src/kernels/index.ts',
  'sam2-webgpu/model': 'src/model/index.ts',
};

const blocks = [...api.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
const work = mkdtempSync(join(tmpdir(), 'sam2-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the README's API section", () => {
  beforeAll(async () => {
    mkdirSync(join(work, 'samples', 'images'), { recursive: true });
    mkdirSync(join(work, 'weights'));
    writeFileSync(join(work, 'package.json'), JSON.stringify({ type: 'module' }));
    copyFileSync(join(repo, 'samples/bedroom.mp4'), join(work, 'samples/bedroom.mp4'));
    copyFileSync(join(repo, 'samples/images/truck.jpg'), join(work, 'samples/images/truck.jpg'));
    await writeSyntheticWeights(join(work, 'weights', 'sam2.1_hiera_tiny.safetensors'));
  });

  it('has code blocks that import the package', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const b of blocks) expect(b).toMatch(/from 'sam2-webgpu'/);
  });

  it.each(blocks.map((b, i) => [i, b] as const))('code block %i runs as written', (i, block) => {
    let code = block;
    for (const [spec, file] of Object.entries(ENTRIES)) {
      code = code.replaceAll(`'${spec}'`, `'${pathToFileURL(join(repo, file)).href}'`);
    }
    const file = join(work, `example${i}.ts`);
    writeFileSync(file, code);
    const env = { ...process.env, SAM2_WEBGPU_WEIGHTS: '' };
    const r = spawnSync(join(repo, 'node_modules/.bin/tsx'), [file], { cwd: work, encoding: 'utf8', env, timeout: 600_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout.trim().length).toBeGreaterThan(0);
    if (block.includes('propagateInVideo')) {
      // Frame 0 (prompted) and the 5 tracked frames each print their objects' areas.
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(6);
      expect(lines[0]).toMatch(/^0 object 1: \d+ px, object 2: \d+ px$/);
    } else {
      expect(r.stdout).toMatch(/^\[ 3, 1200, 1800 \] Float32Array\(3\)/);
    }
  });

  it('every name it shows is exported (or a member of an exported class)', async () => {
    const known = new Set<string>();
    for (const file of Object.values(ENTRIES)) {
      const mod = (await import(pathToFileURL(join(repo, file)).href)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(mod)) {
        known.add(name);
        if (typeof value === 'function') {
          for (const m of Object.getOwnPropertyNames(value)) known.add(m);
          for (const m of Object.getOwnPropertyNames((value as { prototype?: object }).prototype ?? {})) known.add(m);
        }
      }
      // Types leave no trace at run time: take the exported type names from the source.
      const src = readFileSync(join(repo, file), 'utf8');
      for (const m of src.matchAll(/\btype (\w+)/g)) known.add(m[1]);
      for (const m of src.matchAll(/export type \{([^}]*)\}/g)) for (const n of m[1].split(',')) known.add(n.trim());
    }
    // Official Python names the text compares with, and option keys.
    const official = new Set(['SAM2VideoPredictor', 'SAM2ImagePredictor']);
    const named = new Set<string>();
    for (const span of api.matchAll(/`([^`\n]+)`/g)) {
      const m = /^(?:new )?([A-Za-z_]\w*)(?:\.(\w+))?(\(|$)/.exec(span[1]);
      if (!m) continue;
      const [, head, member, call] = m;
      if (head in globalThis) continue; // Symbol.dispose, ArrayBuffer, Response
      if (/^[A-Z]/.test(head) || (call === '(' && !member)) named.add(head);
      if (member) named.add(member);
    }
    const missing = [...named].filter((n) => !known.has(n) && !(official.has(n) && known.has(n.replace(/^SAM2(?=Image)/, ''))));
    expect(named.size).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });
});
