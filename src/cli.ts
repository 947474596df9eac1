/**
 * The `sam2-webgpu` command line (Node). A small dispatcher: each subcommand is an entry in COMMANDS with
 * its usage text and a `run` that imports its implementation on demand, so `convert` never loads the GPU
 * runtime. Add a subcommand by adding an entry.
 *
 *   npx sam2-webgpu --help
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

/** Every subcommand, in help order. */
export const COMMANDS: Command[] = [convert, weights];

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
