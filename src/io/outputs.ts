/**
 * Output files and folders of a job (Node), planned before any work so that nothing the user did not name as
 * an output is ever touched:
 *
 * - an output that exists is replaced only with `overwrite`, and a folder only when everything in it is
 *   something the job writes (a masks folder of NNNNN.png files), never a folder of other files (an empty
 *   folder is simply filled);
 * - an output may never be, contain or sit inside an input, nor another output (refused even with
 *   `overwrite`);
 * - every output's folder must be creatable and writable, checked by writing a probe file;
 * - outputs are written under temporary names that carry the final name (`masks.partial-1234/`,
 *   `clip.mp4.partial-1234.mp4`) and moved into place when complete; on failure, and on SIGINT / SIGTERM
 *   once installSignalCleanup() is active, the temporary outputs and the folders the job created are removed.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Sam2Error } from '../runtime/errors.js';

/** An output path that must not be written (exists, overlaps an input, unwritable). `path` is as given. */
export class OutputError extends Sam2Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

export interface OutputSpec {
  /** The path as the user gave it (used in messages). */
  path: string;
  kind: 'file' | 'folder';
  /** What the output is called in messages: the CLI flag ('--masks') or the option name. */
  label: string;
  /**
   * For folders: whether an entry of an existing folder is something the job writes (the folder is replaced
   * only when every entry is); absent, a non-empty folder is never replaced.
   */
  replaceable?: (name: string, path: string) => boolean;
}

export interface OutputPlanOptions {
  /** Input files and folders (a video, a folder of frames, weights). */
  inputs: readonly string[];
  outputs: readonly OutputSpec[];
  /** Replace outputs that exist (default false). */
  overwrite?: boolean;
  /** How the message tells the user to allow replacing (default "overwrite: true"). */
  overwriteHint?: string;
}

/** A path made absolute with every existing part resolved through symlinks (the rest kept as written). */
export function canonicalPath(p: string): string {
  const abs = resolve(p);
  const tail: string[] = [];
  let head = abs;
  for (;;) {
    try {
      return join(realpathSync(head), ...tail);
    } catch {
      const parent = dirname(head);
      if (parent === head) return abs;
      tail.unshift(basename(head));
      head = parent;
    }
  }
}

/** True when `a` is `b` or lies inside folder `b` (both canonical). */
function within(a: string, b: string): boolean {
  return a === b || a.startsWith(b.endsWith(sep) ? b : b + sep);
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

interface Planned extends OutputSpec {
  abs: string;
  replace: boolean;
}

/** Cleanups to run if the process is interrupted; see installSignalCleanup(). */
const pendingCleanups = new Set<() => void | Promise<void>>();

/** Registers a cleanup to run on SIGINT / SIGTERM; returns the function that unregisters it. */
export function onInterrupt(fn: () => void | Promise<void>): () => void {
  pendingCleanups.add(fn);
  return () => pendingCleanups.delete(fn);
}

/**
 * On SIGINT (Ctrl-C), SIGTERM and SIGHUP: runs the registered cleanups (removing temporary outputs), prints one
 * line through `report`, and exits with 130 / 143 / 129. The same signal again within a second is taken as
 * the same request (a terminal's Ctrl-C reaches every process of the group); any later one exits at once.
 * Returns the function that uninstalls the handlers.
 */
export function installSignalCleanup(report: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): () => void {
  const codes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const handler = (signal: NodeJS.Signals) => {
    const code = codes[signal] ?? 1;
    if (first) {
      if (signal === first.signal && Date.now() - first.at < 1000) return;
      process.exit(code);
    }
    first = { signal, at: Date.now() };
    const all = [...pendingCleanups];
    pendingCleanups.clear();
    Promise.allSettled(all.map(async (f) => f())).then(() => {
      report(`interrupted (${signal})${all.length ? '; the unfinished outputs were removed' : ''}`);
      process.exit(code);
    });
  };
  const signals = Object.keys(codes) as NodeJS.Signals[];
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

/**
 * The outputs of one job, checked at construction (throws OutputError naming the path), then prepared,
 * written under temporary names, and committed or aborted.
 */
export class OutputPlan {
  private readonly planned: Planned[];
  private readonly createdDirs: string[] = [];
  private readonly temps = new Set<string>();
  private readonly unregister: () => void;

  constructor(opts: OutputPlanOptions) {
    const hint = opts.overwriteHint ?? 'overwrite: true';
    const inputs = opts.inputs.map((p) => ({ path: p, abs: canonicalPath(p) }));
    this.planned = [];
    for (const o of opts.outputs) {
      if (!o.path) throw new OutputError(`${o.label}: the path is empty`, o.path);
      const abs = canonicalPath(o.path);
      if (o.kind === 'file' && /[\\/]$/.test(o.path)) throw new OutputError(`${o.label} ${o.path}: a file name is needed, not a folder`, o.path);
      for (const i of inputs) {
        if (abs === i.abs) throw new OutputError(`${o.label} ${o.path} is the input ${i.path}; choose another path`, o.path);
        if (within(abs, i.abs)) {
          if (!statSync(i.abs, { throwIfNoEntry: false })?.isDirectory()) {
            throw new OutputError(`cannot create ${o.label} ${o.path}: ${i.path} is a file, not a folder`, o.path);
          }
          throw new OutputError(`${o.label} ${o.path} is inside the input folder ${i.path}; choose a path outside it`, o.path);
        }
        if (within(i.abs, abs)) throw new OutputError(`${o.label} ${o.path} contains the input ${i.path}; choose another path`, o.path);
      }
      for (const p of this.planned) {
        if (abs === p.abs) throw new OutputError(`${o.label} and ${p.label} are the same path (${o.path})`, o.path);
        if (within(abs, p.abs)) throw new OutputError(`${o.label} ${o.path} is inside ${p.label} ${p.path}; choose separate paths`, o.path);
        if (within(p.abs, abs)) throw new OutputError(`${p.label} ${p.path} is inside ${o.label} ${o.path}; choose separate paths`, o.path);
      }
      let replace = false;
      if (exists(abs)) {
        const st = statSync(abs, { throwIfNoEntry: false });
        if (o.kind === 'file' && st && !st.isFile()) {
          throw new OutputError(`${o.label} ${o.path} is a folder; give a file name`, o.path);
        }
        if (o.kind === 'folder' && !st?.isDirectory()) {
          throw new OutputError(`${o.label} ${o.path} exists and is not a folder`, o.path);
        }
        // An empty folder holds nothing to lose: it is filled without asking.
        const empty = o.kind === 'folder' && readdirSync(abs).length === 0;
        if (!opts.overwrite && !empty) throw new OutputError(`${o.label} ${o.path} already exists; choose another path or allow replacing it (${hint})`, o.path);
        if (o.kind === 'folder') {
          const foreign = readdirSync(abs).find((n) => !o.replaceable?.(n, join(abs, n)));
          if (foreign !== undefined) {
            throw new OutputError(`${o.label} ${o.path} holds ${foreign}, which this job does not write; it will not be replaced (choose another path)`, o.path);
          }
        }
        replace = true;
      }
      checkWritable(o, abs);
      this.planned.push({ ...o, abs, replace });
    }
    this.unregister = onInterrupt(() => this.abortSync());
  }

  /** The planned output for a label. */
  private get(label: string): Planned {
    const p = this.planned.find((x) => x.label === label);
    if (!p) throw new Sam2Error(`no output planned for ${label}`);
    return p;
  }

  /** Absolute final path of an output. */
  path(label: string): string {
    return this.get(label).abs;
  }

  /** Creates the missing folders above every output (remembered, and removed again by abort() if empty). */
  prepare(): void {
    for (const p of this.planned) {
      const missing: string[] = [];
      for (let d = dirname(p.abs); !existsSync(d); d = dirname(d)) missing.unshift(d);
      for (const d of missing) {
        mkdirSync(d);
        this.createdDirs.push(d);
      }
    }
  }

  /**
   * A fresh temporary path for an output, carrying its final name: `<final>.partial-<pid>` (and `-N` when
   * that exists), created as an empty folder for folder outputs. Removed by abort().
   */
  temp(label: string, extension = ''): string {
    const p = this.get(label);
    for (let n = 0; ; n++) {
      const t = `${p.abs}.partial-${process.pid}${n ? `-${n}` : ''}${extension}`;
      if (exists(t)) continue;
      if (p.kind === 'folder') mkdirSync(t);
      this.temps.add(t);
      return t;
    }
  }

  /** Registers a temporary path made by someone else (removed by abort() unless committed). */
  adopt(tmp: string): void {
    this.temps.add(tmp);
  }

  /** Moves a complete temporary output into place, replacing the old one when the plan allows it. */
  commit(label: string, tmp: string): void {
    const p = this.get(label);
    if (p.kind === 'file' || !exists(p.abs)) {
      renameSync(tmp, p.abs);
    } else {
      // Checked again now: a folder that gained foreign files since the plan is kept.
      const foreign = readdirSync(p.abs).find((n) => !p.replaceable?.(n, join(p.abs, n)));
      if (!p.replace || foreign !== undefined) {
        throw new OutputError(`${p.label} ${p.path} changed while the job ran${foreign ? ` (it holds ${foreign})` : ''}; the new output is left in ${tmp}`, p.path);
      }
      const old = `${p.abs}.replaced-${process.pid}`;
      renameSync(p.abs, old);
      renameSync(tmp, p.abs);
      rmSync(old, { recursive: true, force: true });
    }
    this.temps.delete(tmp);
  }

  /** Removes the temporary outputs and the folders prepare() created (when empty). */
  abortSync(): void {
    for (const t of this.temps) rmSync(t, { recursive: true, force: true });
    this.temps.clear();
    for (const d of this.createdDirs.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // not empty: something else was written there
      }
    }
    this.createdDirs.length = 0;
  }

  /** Done with the plan (after commits, or after abortSync()): stops the signal cleanup. */
  finish(): void {
    this.unregister();
  }
}

/**
 * The output's nearest existing folder must be a folder and writable: checked by creating and removing a
 * probe file there (permissions alone do not tell, e.g. on /proc or a read-only mount).
 */
function checkWritable(o: OutputSpec, abs: string): void {
  let d = dirname(abs);
  while (!exists(d)) d = dirname(d);
  const st = statSync(d, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new OutputError(`cannot create ${o.label} ${o.path}: ${d} is a file, not a folder`, o.path);
  const probe = join(d, `.sam2-webgpu-write-test-${process.pid}`);
  try {
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new OutputError(`cannot write ${o.label} ${o.path}: the folder ${d} is not writable (${code})`, o.path);
  }
}
