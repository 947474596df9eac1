/**
 * The `sam2-webgpu` command line (Node). A small dispatcher: each subcommand is an entry in COMMANDS with
 * its usage text and a `run` that imports its implementation on demand, so `convert` never loads the GPU
 * runtime. Add a subcommand by adding an entry.
 *
 *   npx sam2-webgpu --help
 *   npx sam2-webgpu track clip.mp4 --point 210,350 [--obj 2 --box ...] [--out out.mp4] [--masks dir]
 *   npx sam2-webgpu convert sam2.1_hiera_tiny.pt sam2.1_hiera_tiny.safetensors [--dtype f16]
 *   npx sam2-webgpu weights tiny [--v2.0] [--dtype f16]        (also: npm run weights -- tiny)
 *
 * Exit status: 0 success, 1 failure (the message says why), 2 bad usage.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Sam2Error } from './runtime/errors.js';

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full help text, shown by `sam2-webgpu <name> --help`. */
  usage: string;
  run(args: string[]): Promise<number>;
}

/** Bad command-line usage (exit status 2). */
export class UsageError extends Sam2Error {}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function dtypeArg(v: unknown): 'f32' | 'f16' {
  if (v === undefined) return 'f32';
  if (v !== 'f32' && v !== 'f16') throw new UsageError(`--dtype must be f32 or f16, not '${String(v)}'`);
  return v;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** Progress on stderr: one rewritten line on a terminal, a line per 10% otherwise. */
function progressPrinter(label: string): { update(done: number, total?: number, extra?: string): void; end(): void } {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  let shown = false;
  return {
    update(done, total, extra = '') {
      const pct = total ? Math.floor((done / total) * 100) : undefined;
      const text = `${label}: ${mb(done)}${total ? ` / ${mb(total)} (${pct}%)` : ''}${extra ? ` ${extra}` : ''}`;
      if (tty) {
        process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns || 100) - 1)}`);
        shown = true;
      } else if (pct !== undefined && Math.floor(pct / 10) > lastDecile) {
        lastDecile = Math.floor(pct / 10);
        process.stderr.write(`${text}\n`);
      }
    },
    end() {
      if (tty && shown) process.stderr.write('\n');
    },
  };
}

const convert: Command = {
  name: 'convert',
  summary: 'convert a PyTorch SAM 2 / 2.1 checkpoint (.pt) to safetensors',
  usage: `Usage: sam2-webgpu convert <checkpoint.pt> <output.safetensors> [options]

Reads an official SAM 2 / SAM 2.1 checkpoint (torch.save of {"model": state_dict}) without Python and
without executing any pickled code, infers the config (sam2.1_hiera_t/s/b+/l, sam2_hiera_t/s/b+/l) from
the tensor names and shapes, and writes safetensors with __metadata__ {format, config, source, dtype}.

Options:
  --dtype f32|f16          storage type of float tensors (default f32; f16 rounds to nearest even)
  --allow-unknown-config   convert a checkpoint that matches no official config
  -h, --help               show this help`,
  async run(args) {
    const { values, positionals } = parse(args, {
      dtype: { type: 'string' },
      'allow-unknown-config': { type: 'boolean' },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`convert needs <checkpoint.pt> <output.safetensors>\n\n${this.usage}`);
    const [input, output] = positionals;
    const { convertCheckpoint } = await import('../weights/convert.js');
    const bar = progressPrinter(`converting ${input}`);
    const r = await convertCheckpoint(input, output, {
      dtype: dtypeArg(values.dtype),
      allowUnknownConfig: values['allow-unknown-config'] === true,
      onProgress: (p) => bar.update(p.bytesWritten, p.bytesTotal),
    });
    bar.end();
    console.log(`${r.output}: ${r.config ?? 'unknown config'}, ${r.tensors} tensors, ${r.dtype}, ${mb(r.bytes)}`);
    return 0;
  },
};

const weights: Command = {
  name: 'weights',
  summary: "download Meta's published checkpoint and convert it (npm run weights -- <size>)",
  usage: `Usage: sam2-webgpu weights <tiny|small|base_plus|large> [options]
       npm run weights -- <tiny|small|base_plus|large> [options]

Downloads Meta's SAM 2.1 checkpoint (SAM 2 with --v2.0) from dl.fbaipublicfiles.com to
<out>/checkpoints/<name>.pt and converts it to <out>/<name>.safetensors (<name>.f16.safetensors with
--dtype f16). A checkpoint already in <out>/checkpoints is converted without downloading, so on an offline
machine copy the .pt file there (or use \`sam2-webgpu convert\`).

Options:
  --v2.0            the original SAM 2 checkpoints (July 2024) instead of SAM 2.1
  --dtype f32|f16   storage type of float tensors (default f32)
  --out DIR         output folder (default: the package's weights/ folder)
  -h, --help        show this help`,
  async run(args) {
    const { values, positionals } = parse(args, {
      'v2.0': { type: 'boolean' },
      dtype: { type: 'string' },
      out: { type: 'string' },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const { downloadWeights, MODEL_SIZES } = await import('../weights/download.js');
    const size = positionals[0];
    if (positionals.length !== 1 || !(MODEL_SIZES as readonly string[]).includes(size)) {
      throw new UsageError(`weights needs one size: ${MODEL_SIZES.join(' | ')}\n\n${this.usage}`);
    }
    const bars = { download: progressPrinter('downloading'), convert: progressPrinter('converting') };
    let phase: 'download' | 'convert' | undefined;
    const r = await downloadWeights({
      size: size as (typeof MODEL_SIZES)[number],
      v2_0: values['v2.0'] === true,
      dtype: dtypeArg(values.dtype),
      outDir: values.out,
      onProgress: (p) => {
        if (phase && phase !== p.phase) bars[phase].end();
        phase = p.phase;
        bars[p.phase].update(p.bytesDone, p.bytesTotal);
      },
    });
    if (phase) bars[phase].end();
    console.log(`${r.safetensors}: ${r.config}${r.downloaded ? '' : ` (converted the existing ${r.checkpoint})`}`);
    return 0;
  },
};

function numbers(flag: string, v: string, n: number): number[] {
  const parts = v.split(',').map((x) => Number(x.trim()));
  if (parts.length !== n || parts.some((x) => !Number.isFinite(x))) {
    throw new UsageError(`${flag} ${v}: expected ${n} comma-separated numbers`);
  }
  return parts;
}

function intArg(flag: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, not '${v}'`);
  return n;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s - m * 60)).padStart(2, '0')}`;
}

const track: Command = {
  name: 'track',
  summary: 'track objects through a video and write an overlay MP4, palette PNG masks and a JSON summary',
  usage: `Usage: sam2-webgpu track <video-file | frames-folder> [prompts] [options]

Prompts (in video pixels; each applies to the current --frame and --obj, which default to 0 and 1):
  --point X,Y[,L]          a click; L = 1 positive (default) or 0 negative; repeat for several points
  --box X0,Y0,X1,Y1        a box (one per object and frame)
  --obj N                  the object id of the prompts that follow (a new id adds an object)
  --frame K                the frame of the prompts that follow

Options:
  --model tiny|small|base_plus|large   model size (default tiny)
  --v2.0                   the original SAM 2 instead of SAM 2.1
  --weights FILE           converted weights (safetensors; see \`sam2-webgpu convert\` and \`weights\`).
                           Without it, weights/<config>.safetensors is used when present, else the
                           deterministic synthetic weights (the masks are then meaningless)
  --dtype f32|f16          GPU precision (default f32)
  --image-size N           model input size (default 1024; smaller multiples of 32 run faster, coarser)
  --reverse                also track backwards from the first prompted frame to frame 0
  --max-frames N           track at most N frames after the first prompted frame
  --out FILE.mp4           overlay video (default: <input name>.sam2.mp4 in the current folder)
  --masks DIR              per-frame palette PNG masks (00000.png, ...; 0 = background, k = object k)
  --json FILE              per-frame summary (object ids, areas, object scores, timings)
  --fps N                  frame rate of the MP4 (default: the source's, 24 for frame folders)
  -h, --help               show this help

Example: sam2-webgpu track clip.mp4 --point 210,350 --obj 2 --box 300,0,520,400 --masks masks/`,
  async run(args) {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        allowPositionals: true,
        strict: true,
        tokens: true,
        options: {
          point: { type: 'string', multiple: true },
          box: { type: 'string', multiple: true },
          obj: { type: 'string', multiple: true },
          frame: { type: 'string', multiple: true },
          model: { type: 'string' },
          'v2.0': { type: 'boolean' },
          weights: { type: 'string' },
          dtype: { type: 'string' },
          'image-size': { type: 'string' },
          reverse: { type: 'boolean' },
          'max-frames': { type: 'string' },
          out: { type: 'string' },
          masks: { type: 'string' },
          json: { type: 'string' },
          fps: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values, positionals, tokens } = parsed;
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`track needs one video file or frames folder\n\n${this.usage}`);
    const source = positionals[0];
    // Prompts, grouped by (frame, object) in the order given.
    let frame = 0;
    let obj = 1;
    const prompts = new Map<string, import('./track.js').TrackPrompt>();
    const at = () => {
      const key = `${frame}:${obj}`;
      let p = prompts.get(key);
      if (!p) prompts.set(key, (p = { frame, objId: obj }));
      return p;
    };
    for (const t of tokens ?? []) {
      if (t.kind !== 'option' || t.value === undefined) continue;
      if (t.name === 'frame') frame = intArg('--frame', t.value)!;
      else if (t.name === 'obj') obj = intArg('--obj', t.value)!;
      else if (t.name === 'point') {
        const parts = t.value.split(',');
        const [x, y, l = 1] = numbers('--point', t.value, parts.length === 3 ? 3 : 2);
        if (l !== 0 && l !== 1) throw new UsageError(`--point ${t.value}: the label must be 1 (positive) or 0 (negative)`);
        const p = at();
        (p.points ??= []).push([x, y]);
        (p.labels ??= []).push(l);
      } else if (t.name === 'box') {
        const p = at();
        if (p.box) throw new UsageError(`--box given twice for object ${obj} on frame ${frame}`);
        p.box = numbers('--box', t.value, 4) as [number, number, number, number];
      }
    }
    const model = (values.model ?? 'tiny') as import('./model/config.js').ModelSize;
    const { MODEL_SIZES, configName } = await import('./model/config.js');
    if (!MODEL_SIZES.includes(model)) throw new UsageError(`--model must be one of ${MODEL_SIZES.join(', ')}, not '${model}'`);
    const version = values['v2.0'] ? '2.0' : '2.1';
    let weights = values.weights;
    if (!weights) {
      const { existsSync } = await import('node:fs');
      const { join, dirname } = await import('node:path');
      const here = dirname(fileURLToPath(import.meta.url));
      for (const dir of [join(here, '..', 'weights'), join(here, '..', '..', 'weights')]) {
        for (const suffix of ['', '.f16']) {
          const f = join(dir, `${configName(model, version)}${suffix}.safetensors`);
          if (!weights && existsSync(f)) weights = f;
        }
      }
    }
    if (!weights) {
      console.error(
        'sam2-webgpu track: WARNING: no weights given and none found in weights/; using synthetic weights, so the masks are meaningless. ' +
          'Get the real ones with `npm run weights -- ' + model + '` or convert a checkpoint with `sam2-webgpu convert`.',
      );
    }
    const { basename, extname } = await import('node:path');
    const out = values.out ?? `${basename(source, extname(source)) || 'video'}.sam2.mp4`;
    const { trackVideo } = await import('./track.js');
    const tty = process.stderr.isTTY;
    let lastLine = 0;
    const summary = await trackVideo({
      source,
      prompts: [...prompts.values()],
      model,
      version,
      weights,
      dtype: dtypeArg(values.dtype),
      imageSize: intArg('--image-size', values['image-size'], 64),
      reverse: values.reverse === true,
      maxFrames: intArg('--max-frames', values['max-frames'], 0),
      out,
      masksDir: values.masks,
      json: values.json,
      fps: values.fps !== undefined ? Number(values.fps) : undefined,
      onProgress: (p) => {
        const line =
          p.phase === 'track'
            ? `tracking: frame ${p.frameIdx} (${p.done}/${p.total})  ${p.framesPerSecond.toFixed(2)} frames/s  ETA ${duration(p.etaSeconds)}`
            : p.phase === 'load'
              ? 'loading the model...'
              : p.phase === 'prompt'
                ? `prompting frame ${p.frameIdx}...`
                : 'writing outputs...';
        if (tty) process.stderr.write(`\r\x1b[K${line}`);
        else if (p.phase !== 'track' || p.done === p.total || Date.now() - lastLine > 5000) {
          process.stderr.write(`${line}\n`);
          lastLine = Date.now();
        }
      },
    });
    if (tty) process.stderr.write('\n');
    const objs = summary.objIds.join(', ');
    console.log(
      `${summary.trackedFrames}/${summary.frames} frames tracked, objects ${objs}, ${summary.msPerFrame.toFixed(0)} ms/frame ` +
        `(${summary.model}, ${summary.dtype}, ${summary.imageSize}px, ${summary.adapter})`,
    );
    if (summary.outputs.mp4) console.log(`video: ${summary.outputs.mp4}`);
    if (summary.outputs.masksDir) console.log(`masks: ${summary.outputs.masksDir}/`);
    if (summary.outputs.json) console.log(`summary: ${summary.outputs.json}`);
    if (summary.syntheticWeights) console.log('(synthetic weights: the masks are meaningless)');
    return 0;
  },
};

/** Every subcommand, in help order. */
export const COMMANDS: Command[] = [track, convert, weights];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: sam2-webgpu <command> [options]

SAM 2 / SAM 2.1 on WebGPU.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`sam2-webgpu <command> --help\` for a command's options.`;
}

/** Runs the command line; returns the exit status. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const c = COMMANDS.find((x) => x.name === rest[0]);
    console.log(c ? c.usage : usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  try {
    if (!cmd) throw new UsageError(`unknown command '${name}'\n\n${usage()}`);
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`sam2-webgpu: ${e.message}`);
      return 2;
    }
    if (e instanceof Sam2Error) {
      console.error(`sam2-webgpu ${name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

// Run when executed directly (`tsx src/cli.ts ...`); the bin wrapper imports main() instead.
function isEntryPoint(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isEntryPoint()) {
  main().then((code) => {
    process.exitCode = code;
  });
}
