/**
 * The Node peer benchmark on one software adapter, one process:
 *
 *   tsx bench/peers/node.ts --driver lavapipe|swiftshader [--quick] [--modules a,b] [--sizes 256,512]
 *       [--reps N] [--warmup N] [--runtimes ours,ort-webgpu,ort-cpu] [--out file.json]
 *
 * Runtimes, timed in turn (A B C A B C ...): our engine (npm `webgpu`, Dawn), onnxruntime-node's WebGPU
 * execution provider (its own Dawn) and onnxruntime-node on the CPU with 2 threads (context). Both Dawns go
 * through the Vulkan loader, so VK_ICD_FILENAMES (set here from --driver, before either starts) gives them
 * the same driver; which driver libraries the process really loaded is read from /proc/self/maps and
 * printed, with our engine's adapter info. Modules: encoder, memory_attention, mask_decoder, memory_encoder
 * (the default) and the whole-frame cases frame1, frame3 (bench/peers/frame.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gpu } from '../../src/runtime/gpu.js';
import { formatTable, loadCase, parseArgs, runCase, type CaseResult, type PeerManifest, type RuntimeSpec } from './common.js';
import { engineRuntime, loadEngineWeights } from './engine.js';
import { ortRuntime, type OrtLike } from './ort.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
export const MODELS_DIR = process.env.SAM2_PEERS_MODELS ?? join(here, 'models');

export const DRIVER_ICDS: Record<string, () => string | undefined> = {
  lavapipe: () => {
    for (const d of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d']) {
      if (!existsSync(d)) continue;
      const f = readdirSync(d).find((x) => /^lvp_icd.*\.json$/.test(x));
      if (f) return join(d, f);
    }
    return undefined;
  },
  swiftshader: () => ['/usr/lib/chromium/vk_swiftshader_icd.json'].find((f) => existsSync(f)),
};

/** The Vulkan driver libraries mapped into this process (lavapipe: libvulkan_lvp.so, SwiftShader: libvk_swiftshader.so). */
export function loadedVulkanDrivers(): string[] {
  const maps = readFileSync('/proc/self/maps', 'utf8');
  const libs = new Set<string>();
  for (const line of maps.split('\n')) {
    const m = /(\/\S*(?:libvulkan_\w+|libvk_swiftshader|swiftshader)\S*\.so[.\d]*)$/.exec(line);
    if (m && !/libvulkan\.so/.test(m[1])) libs.add(m[1]);
  }
  return [...libs];
}

/**
 * onnxruntime-node is installed in bench/peers/node_modules (bench/peers/install.mjs, run by `npm run
 * bench:peers`), which Node finds from this file. The specifier is not a literal so that type-checking the
 * project does not need that install.
 */
const ORT_NODE: string = 'onnxruntime-node';

/** A package's version, resolved from this folder as its import is (bench/peers/node_modules, then the root's). */
function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv);
  const driver = args.get('driver') ?? process.env.SAM2_WEBGPU_DRIVER ?? 'lavapipe';
  const icd = driver.endsWith('.json') ? driver : DRIVER_ICDS[driver]?.();
  if (!icd) throw new Error(`peers: no Vulkan ICD for driver "${driver}" (lavapipe, swiftshader or a path to an ICD json)`);
  // Before either Dawn exists: both read the Vulkan loader's environment when they create their instance.
  process.env.VK_ICD_FILENAMES = icd;
  delete process.env.VK_DRIVER_FILES;
  process.env.SAM2_WEBGPU_DRIVER = driver.endsWith('.json') ? icd : driver;
  const wanted = (args.get('runtimes') ?? 'ours,ort-webgpu,ort-cpu').split(',');

  const manifest = JSON.parse(readFileSync(join(MODELS_DIR, 'manifest.json'), 'utf8')) as PeerManifest;
  const ort = (await import(ORT_NODE).catch((e: unknown) => {
    throw new Error(`peers: cannot load ${ORT_NODE} (install it with: node bench/peers/install.mjs): ${(e as Error).message}`);
  })) as OrtLike & { env: { versions?: unknown } };
  const ortVersion = packageVersion(ORT_NODE);
  const log = (s: string) => console.error(s);

  // onnxruntime's WebGPU EP first, alone: the driver libraries loaded after its first session are its own.
  let ortDrivers: string[] = [];
  if (wanted.includes('ort-webgpu')) {
    const probe = await loadCase(manifest, 'memory_encoder', args.sizes[0], async (f) => readFileSync(join(MODELS_DIR, f)).buffer as ArrayBuffer);
    const r = await ortRuntime(ort, 'probe', '', { executionProviders: ['webgpu'] }, async (c) => join(MODELS_DIR, c.entry.file)).create(probe);
    await r.run();
    ortDrivers = loadedVulkanDrivers();
    await r.dispose();
  }
  const gpu = await Gpu.create();
  const info = gpu.info;
  const allDrivers = loadedVulkanDrivers();
  const adapters = {
    driverRequested: driver,
    vkIcdFilenames: icd,
    ours: `${info.adapter} (${info.vendor}, ${info.architecture}; driver ${info.backend})`,
    oursInfo: info,
    ortWebgpuVulkanDrivers: ortDrivers,
    processVulkanDrivers: allDrivers,
  };
  console.log(`driver ${driver}: VK_ICD_FILENAMES=${icd}`);
  console.log(`  ours (npm webgpu ${packageVersion('webgpu')}): ${adapters.ours}`);
  if (wanted.includes('ort-webgpu')) console.log(`  onnxruntime-node ${ortVersion} WebGPU EP: Vulkan driver loaded: ${ortDrivers.join(', ') || 'none'}`);
  console.log(`  Vulkan drivers in the process: ${allDrivers.join(', ') || 'none'}`);

  const weights = await loadEngineWeights(gpu);
  const file = async (c: { entry: { file: string } }) => join(MODELS_DIR, c.entry.file);
  const all: Record<string, RuntimeSpec> = {
    ours: engineRuntime(gpu, weights, `sam2-webgpu (Node, Dawn via npm webgpu), ${info.adapter}`),
    'ort-webgpu': ortRuntime(ort, 'ort-webgpu', `onnxruntime-node ${ortVersion} WebGPU EP`, { executionProviders: ['webgpu'] }, file),
    // Without spinning: a CPU EP thread pool that spins after its run takes the 2 cores from the runtime timed next.
    'ort-cpu': ortRuntime(
      ort,
      'ort-cpu',
      `onnxruntime-node ${ortVersion} CPU EP, 2 threads, no spinning`,
      { executionProviders: ['cpu'], intraOpNumThreads: 2, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } },
      file,
      true,
    ),
  };
  const runtimes = wanted.map((w) => {
    if (!all[w]) throw new Error(`peers: unknown runtime ${w} (ours, ort-webgpu, ort-cpu)`);
    return all[w];
  });

  const out = args.get('out') ?? join(root, 'bench', 'results', `peers-node-${driver.replace(/\W+/g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  const results: CaseResult[] = [];
  const save = (partial: boolean) => {
    const doc = {
      date: new Date().toISOString(),
      target: 'node',
      driver,
      partial,
      adapters,
      versions: { node: process.version, onnxruntimeNode: ortVersion, webgpu: packageVersion('webgpu') },
      options: { warmup: args.warmup, reps: args.reps, quick: args.quick },
      runtimes: runtimes.map((r) => ({ id: r.id, label: r.label, context: !!r.context })),
      results,
    };
    writeFileSync(out + '.tmp', JSON.stringify(doc, null, 1));
    renameSync(out + '.tmp', out);
  };
  for (const size of args.sizes) {
    for (const module of args.modules) {
      const c = await loadCase(manifest, module, size, async (f) => {
        const b = readFileSync(join(MODELS_DIR, f));
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
      });
      log(`${c.name}: ${args.warmup} warm-up + ${args.reps} runs of ${runtimes.map((r) => r.id).join(', ')}`);
      results.push(await runCase(c, runtimes, { warmup: args.warmup, reps: args.reps, log }));
      save(true);
      log(formatTable(results.slice(-1)));
    }
  }
  weights.release();
  gpu.destroy();

  console.log(`\nNode, ${driver} (median ms of ${args.reps} after ${args.warmup} warm-up; ratio = peer ms ÷ ours; max|Δ| vs PyTorch, largest over the outputs)\n`);
  console.log(formatTable(results));
  save(false);
  console.log(`\nresults written to ${out}`);
}

await main();
