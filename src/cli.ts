/**
 * The `sam2-webgpu` command line (Node). A small dispatcher: each subcommand is an entry in COMMANDS with
 * its usage text and a `run` that imports its implementation on demand, so `convert` never loads the GPU
 * runtime. Add a subcommand by adding an entry.
 *
 *   npx sam2-webgpu --help
 *   npx sam2-webgpu track clip.mp4 --point 210,350 [--obj 2 --box ...] [--out out.mp4] [--masks dir]
 *   npx sam2-webgpu convert sam2.1_hiera_tiny.pt sam2.1_hiera_tiny.safetensors [--dtype f16]
 *   npx sam2-webgpu weights tiny [--v2.0] [--dtype f16]
 *
 * Exit status: 0 success, 1 failure (the message says why), 2 bad usage.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ModelSize } from './checkpoint/config.js';
import { MAX_OBJ_ID } from './io/png_format.js';
import { OutputError, OutputPlan, installSignalCleanup } from './io/outputs.js';
import { fileAccessError, Sam2Error } from './runtime/errors.js';
import { PROFILE_MODES, profileModeFromEnvironment, type ProfileMode } from './runtime/profile.js';

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full help text, shown by `sam2-webgpu <name> --help`. */
  usage: string;
  run(args: string[], ctx: { debug: boolean }): Promise<number>;
}

/** Bad command-line usage (exit status 2). */
export class UsageError extends Sam2Error {}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw parseError(e, args);
  }
}

/** A UsageError in one line from node:util parseArgs' error. */
function parseError(e: unknown, args: readonly string[]): UsageError {
  // parseArgs says "Option '--frame' argument is ambiguous" for a value that starts with '-'.
  const ambiguous = /^Option '(--[\w.-]+)' argument is ambiguous/.exec(firstLine(e));
  if (ambiguous) {
    const flag = ambiguous[1];
    const value = args[args.indexOf(flag) + 1] ?? '-...';
    return new UsageError(`${flag} ${value}: a value that starts with '-' is written ${flag}=${value}`);
  }
  return new UsageError(firstLine(e));
}

/** The first line of an error's message (node:util's parseArgs explains over several). */
function firstLine(e: unknown): string {
  return String((e as Error).message ?? e).split('\n')[0];
}

/** --profile, or undefined for SAM2_WEBGPU_PROFILE / 'auto' (a bad value of either is reported before any work). */
function profileArg(v: string | undefined): ProfileMode | undefined {
  if (v === undefined) {
    profileModeFromEnvironment();
    return undefined;
  }
  if (!(PROFILE_MODES as readonly string[]).includes(v)) throw new UsageError(`--profile must be ${PROFILE_MODES.join(', ')}, not '${v}'`);
  return v as ProfileMode;
}

function dtypeArg(v: unknown): 'f32' | 'f16' {
  if (v === undefined) return 'f32';
  if (v !== 'f32' && v !== 'f16') throw new UsageError(`--dtype must be f32 or f16, not '${String(v)}'`);
  return v;
}

/**
 * Whether stderr is a terminal. bin/sam2-webgpu.mjs runs the command in a child process whose stderr is a pipe
 * (to keep the GPU driver's native warnings off the terminal) and says so in SAM2_WEBGPU_TTY.
 */
function stderrIsTTY(): boolean {
  return process.stderr.isTTY === true || process.env.SAM2_WEBGPU_TTY === '1';
}

function columns(): number {
  return process.stderr.columns || Number(process.env.SAM2_WEBGPU_COLUMNS) || 100;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** Progress on stderr: one rewritten line on a terminal, a line per 10% otherwise. */
function progressPrinter(label: string): { update(done: number, total?: number, extra?: string): void; end(): void } {
  const tty = stderrIsTTY();
  let lastDecile = -1;
  let shown = false;
  return {
    update(done, total, extra = '') {
      const pct = total ? Math.floor((done / total) * 100) : undefined;
      const text = `${label}: ${mb(done)}${total ? ` / ${mb(total)} (${pct}%)` : ''}${extra ? ` ${extra}` : ''}`;
      if (tty) {
        process.stderr.write(`\r\x1b[K${text.slice(0, columns() - 1)}`);
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
  usage: `Usage: sam2-webgpu convert <checkpoint.pt> [output.safetensors] [options]

Reads an official SAM 2 / SAM 2.1 checkpoint (torch.save of {"model": state_dict}) without Python and
without executing any pickled code, infers the config (sam2.1_hiera_t/s/b+/l, sam2_hiera_t/s/b+/l) from
the tensor names and shapes, and writes safetensors with __metadata__ {format, config, source, dtype}.
Without an output, a checkpoint named as Meta names them (sam2.1_hiera_tiny.pt) becomes
weights/sam2.1_hiera_tiny.safetensors (.f16.safetensors with --dtype f16), where \`track\` looks.

Options:
  --dtype f32|f16          storage type of float tensors (default f32; f16 rounds to nearest even)
  --allow-unknown-config   convert a checkpoint that matches no official config
  --overwrite              replace the output if it exists (refused without it)
  -h, --help               show this help`,
  async run(args) {
    const { values, positionals } = parse(args, {
      dtype: { type: 'string' },
      'allow-unknown-config': { type: 'boolean' },
      overwrite: { type: 'boolean' },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('convert needs <checkpoint.pt> [output.safetensors] (see convert --help)');
    const input = positionals[0];
    const dtype = dtypeArg(values.dtype);
    const { statSync } = await import('node:fs');
    const st = statSync(input, { throwIfNoEntry: false });
    if (!st?.isFile()) throw fileAccessError('checkpoint', input, { code: st ? 'EISDIR' : 'ENOENT' });
    const output = positionals[1] ?? (await defaultConvertOutput(input, dtype));
    // The output is written as <output>.partial-<pid> and renamed when complete.
    const plan = new OutputPlan({
      inputs: [input],
      outputs: [{ path: output, kind: 'file', label: 'output' }],
      overwrite: values.overwrite === true,
      overwriteHint: '--overwrite',
    });
    plan.adopt(`${plan.path('output')}.partial-${process.pid}`);
    const { convertCheckpoint } = await import('../weights/convert.js');
    const bar = progressPrinter(`converting ${input}`);
    let r;
    try {
      plan.prepare();
      r = await convertCheckpoint(input, plan.path('output'), {
        dtype,
        allowUnknownConfig: values['allow-unknown-config'] === true,
        onProgress: (p) => bar.update(p.bytesWritten, p.bytesTotal),
      });
    } catch (e) {
      plan.abortSync();
      throw e;
    } finally {
      bar.end();
      plan.finish();
    }
    r = { ...r, output };
    console.log(`${r.output}: ${r.config ?? 'unknown config'}, ${r.tensors} tensors, ${r.dtype}, ${mb(r.bytes)}`);
    return 0;
  },
};

/** weights/<Meta's name>.safetensors for a checkpoint named as Meta names them; a UsageError otherwise. */
async function defaultConvertOutput(input: string, dtype: 'f32' | 'f16'): Promise<string> {
  const { basename, join } = await import('node:path');
  const m = /^(sam2\.1|sam2)_hiera_(tiny|small|base_plus|large)\.pt$/.exec(basename(input));
  if (!m) throw new UsageError(`${input} is not named as Meta names its checkpoints (sam2.1_hiera_tiny.pt, ...); give the output file`);
  const { weightsFileName } = await import('./checkpoint/config.js');
  const { weightsDir, shortPath } = await import('./io/weights_files.js');
  return shortPath(join(weightsDir(), weightsFileName(m[2] as ModelSize, m[1] === 'sam2.1' ? '2.1' : '2.0', dtype)));
}

const weights: Command = {
  name: 'weights',
  summary: "download Meta's published checkpoint and convert it",
  usage: `Usage: sam2-webgpu weights <tiny|small|base_plus|large> [options]

Downloads Meta's SAM 2.1 checkpoint (SAM 2 with --v2.0) from dl.fbaipublicfiles.com to
<out>/checkpoints/<name>.pt and converts it to <out>/<name>.safetensors (<name>.f16.safetensors with
--dtype f16). A checkpoint already in <out>/checkpoints is converted without downloading, so on an offline
machine copy the .pt file there (or use \`sam2-webgpu convert\`).

Options:
  --v2.0            the original SAM 2 checkpoints (July 2024) instead of SAM 2.1
  --dtype f32|f16   storage type of float tensors (default f32)
  --out DIR         output folder (default: weights/ in the current folder, or $SAM2_WEBGPU_WEIGHTS;
                    \`track\` and load() look there)
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
      const what = positionals.length === 1 ? `'${size}' is not a model size` : 'weights needs one model size';
      throw new UsageError(`${what}: ${MODEL_SIZES.join(' | ')} (see weights --help)`);
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

/** A decimal number as people write it (no empty strings, hex, Infinity or trailing text). */
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function numbers(flag: string, v: string, n: number): number[] {
  const parts = v.split(',').map((x) => x.trim());
  if (parts.length !== n || parts.some((x) => !NUMBER.test(x))) {
    throw new UsageError(`${flag} ${v}: expected ${n} comma-separated numbers`);
  }
  return parts.map(Number);
}

function intArg(flag: string, v: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\s*\+?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer ${max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `>= ${min}`}, not '${v}'`);
  }
  return n;
}

function fpsArg(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = NUMBER.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= 0.01 && n <= 1000)) throw new UsageError(`--fps must be a number from 0.01 to 1000, not '${v}'`);
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
  --weights FILE           converted weights (safetensors; see \`sam2-webgpu weights\` and \`convert\`).
                           Default: weights/sam2.1_hiera_<size>.safetensors (or .f16.safetensors) in
                           the current folder, or in $SAM2_WEBGPU_WEIGHTS. \`--weights synthetic\` runs
                           the deterministic synthetic weights (the masks are then meaningless)
  --dtype f32|f16          GPU precision (default f32)
  --image-size N           model input size (default 1024, the official; smaller multiples of 32
                           down to 64 run faster, coarser)
  --reverse                also track backwards from the first prompted frame to frame 0
  --max-frames N           track at most N frames after the first prompted frame
  --out FILE.mp4           overlay video (default: <input name>.sam2.mp4 in the current folder)
  --masks DIR              per-frame palette PNG masks (00000.png, ...; 0 = background, k = object k)
  --json FILE              per-frame summary (object ids, areas, object scores, timings)
  --fps N                  frame rate of the MP4 (default: the source's, 24 for frame folders)
  --fill-hole-area N       fill holes in the masks up to N pixels (default 8, the official; 0 = off)
  --profile auto|gpu|cpu   the device profile: the kernels and routes of hardware GPUs (gpu) or of
                           software adapters (cpu); default auto (from the adapter, or
                           $SAM2_WEBGPU_PROFILE)
  --overwrite              replace outputs that exist (a masks folder only when it holds nothing
                           but mask PNGs); without it an existing output is refused before any work
  --debug                  print the device profile, and the stack trace with an error
  -h, --help               show this help

Outputs are written under temporary names (<name>.partial-<pid>) and appear only when complete; an
interrupted or failed run removes them. No output may be, contain or sit inside the input.
Object ids are 1..255 (the palette PNGs use 0 for the background). Coordinates are in displayed
pixels: a video with rotation metadata is rotated as players show it.

Example: sam2-webgpu track clip.mp4 --point 210,350 --obj 2 --box 300,0,520,400 --masks masks/`,
  async run(args, ctx) {
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
          'fill-hole-area': { type: 'string' },
          profile: { type: 'string' },
          overwrite: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    } catch (e) {
      throw parseError(e, args);
    }
    const { values, positionals, tokens } = parsed;
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`track needs one video file or frames folder, not ${positionals.length} (see track --help)`);
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
    // A --frame or --obj applies to the prompts after it: one followed by no prompt is a mistake, not a no-op.
    const pending: Record<'frame' | 'obj', string | undefined> = { frame: undefined, obj: undefined };
    for (const t of tokens ?? []) {
      if (t.kind !== 'option' || t.value === undefined) continue;
      if (t.name === 'frame' || t.name === 'obj') {
        if (pending[t.name] !== undefined) throw new UsageError(`--${t.name} ${pending[t.name]} is followed by no --point or --box before --${t.name} ${t.value}`);
        pending[t.name] = t.value;
      }
      if (t.name === 'point' || t.name === 'box') pending.frame = pending.obj = undefined;
      if (t.name === 'frame') frame = intArg('--frame', t.value)!;
      else if (t.name === 'obj') obj = intArg('--obj', t.value, 1, MAX_OBJ_ID)!;
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
    for (const name of ['frame', 'obj'] as const) {
      if (pending[name] !== undefined && prompts.size > 0) {
        throw new UsageError(`--${name} ${pending[name]} comes after the last prompt and applies to none; put it before the --point or --box it is for`);
      }
    }
    const model = (values.model ?? 'tiny') as ModelSize;
    const { MODEL_SIZES } = await import('./checkpoint/config.js');
    if (!MODEL_SIZES.includes(model)) throw new UsageError(`--model must be one of ${MODEL_SIZES.join(', ')}, not '${model}'`);
    const version = values['v2.0'] ? '2.0' : '2.1';
    const dtype = dtypeArg(values.dtype);
    const imageSize = values['image-size'];
    const size = imageSize === undefined ? undefined : /^\d+$/.test(imageSize) ? Number(imageSize) : NaN;
    if (size !== undefined && !(size >= 64 && size <= 1024 && size % 32 === 0)) {
      throw new UsageError(`--image-size must be a multiple of 32 from 64 to 1024, not '${imageSize}'`);
    }
    const maxFrames = intArg('--max-frames', values['max-frames'], 0);
    const fillHoleArea = intArg('--fill-hole-area', values['fill-hole-area'], 0);
    const fps = fpsArg(values.fps);
    const profile = profileArg(values.profile);
    if (prompts.size === 0) throw new UsageError('no prompt: give at least one --point or --box (see track --help)');
    const { basename, extname } = await import('node:path');
    const out = values.out ?? `${basename(source.replace(/[\\/]+$/, ''), extname(source)) || 'video'}.sam2.mp4`;
    if (extname(out).toLowerCase() !== '.mp4') throw new UsageError(`--out ${out}: the overlay video is an H.264 MP4; give a name ending in .mp4`);
    const weights = values.weights;
    const { trackVideo } = await import('./track.js');
    const tty = stderrIsTTY();
    let lastLine = 0;
    let open = false;
    const job = trackVideo({
      source,
      prompts: [...prompts.values()],
      model,
      version,
      weights,
      dtype,
      imageSize: size,
      reverse: values.reverse === true,
      maxFrames,
      out,
      masksDir: values.masks,
      json: values.json,
      fps,
      fillHoleArea,
      profile,
      overwrite: values.overwrite === true,
      onLoaded: (profile) => {
        if (ctx.debug) process.stderr.write(`${tty ? '\r\x1b[K' : ''}${profile.describe()}\n`);
      },
      names: { out: '--out', masksDir: '--masks', json: '--json', overwrite: '--overwrite' },
      onProgress: (p) => {
        if (p.phase === 'load' && weights === 'synthetic') {
          process.stderr.write(
            'sam2-webgpu track: synthetic weights: the masks are meaningless. ' +
              `Get the real ones with \`npx sam2-webgpu weights ${model}\`.\n`,
          );
        }
        const line =
          p.phase === 'track'
            ? `tracking: frame ${p.frameIdx} (${p.done}/${p.total})  ${p.framesPerSecond.toFixed(2)} frames/s  ETA ${duration(p.etaSeconds)}`
            : p.phase === 'load'
              ? 'loading the model...'
              : p.phase === 'prompt'
                ? `prompting frame ${p.frameIdx}...`
                : 'writing outputs...';
        if (tty) {
          process.stderr.write(`\r\x1b[K${line}`);
          open = true;
        } else if (p.phase !== 'track' || p.done === p.total || Date.now() - lastLine > 5000) {
          process.stderr.write(`${line}\n`);
          lastLine = Date.now();
        }
      },
    });
    const summary = await job.finally(() => {
      if (open) process.stderr.write('\n');
    });
    const objs = summary.objIds.join(', ');
    console.log(
      `${summary.trackedFrames}/${summary.frames} frames tracked, objects ${objs}, ${summary.msPerFrame.toFixed(0)} ms/frame ` +
        `(${summary.model}, ${summary.dtype}, ${summary.imageSize}px, ${summary.adapter}, ${summary.profile} profile)`,
    );
    if (summary.outputs.mp4) console.log(`video: ${summary.outputs.mp4}`);
    if (summary.outputs.masksDir) console.log(`masks: ${summary.outputs.masksDir.replace(/[\\/]+$/, '')}/`);
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

/** The package version (package.json beside src/ and dist/). */
function version(): string {
  try {
    const url = new URL('../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Runs the command line; returns the exit status: 0 success, 1 failure, 2 bad usage (including an output that
 * exists or overlaps an input), 130 / 143 interrupted (SIGINT / SIGTERM; the unfinished outputs are removed).
 * Every error is one line on stderr; `--debug` (or SAM2_WEBGPU_DEBUG=1) adds the stack trace.
 */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const debug = argv.includes('--debug') || process.env.SAM2_WEBGPU_DEBUG === '1';
  argv = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    console.log(version());
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const c = COMMANDS.find((x) => x.name === rest[0]);
    console.log(c ? c.usage : usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  const uninstall = installSignalCleanup((line) => {
    if (stderrIsTTY()) process.stderr.write('\n');
    process.stderr.write(`sam2-webgpu ${name}: ${line}\n`);
  });
  try {
    if (!cmd) throw new UsageError(`unknown command '${name}'; the commands are ${COMMANDS.map((c) => c.name).join(', ')} (see --help)`);
    return await cmd.run(rest, { debug });
  } catch (e) {
    const detail = debug && e instanceof Error && e.stack ? `\n${e.stack}` : '';
    if (e instanceof UsageError) {
      console.error(`sam2-webgpu${cmd ? ` ${name}` : ''}: ${e.message}${detail}`);
      return 2;
    }
    if (e instanceof OutputError) {
      console.error(`sam2-webgpu ${name}: ${e.message}${detail}`);
      return 2;
    }
    // Everything else is one line; errors from outside the engine (the file system, Node) say what they are.
    const message = e instanceof Sam2Error ? e.message : describeForeignError(e);
    console.error(`sam2-webgpu ${name}: ${message}${detail || (e instanceof Sam2Error ? '' : ' (run with --debug for details)')}`);
    return 1;
  } finally {
    uninstall();
  }
}

/** One line for an error that is not a Sam2Error (a file-system error names its path). */
function describeForeignError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const x = e as NodeJS.ErrnoException;
  const first = (e.message.split('\n')[0] ?? '').trim();
  return x.code && !first.includes(x.code) ? `${first} (${x.code})` : first || e.name;
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
