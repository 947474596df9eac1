/**
 * The command line as users meet it: the real bin/sam2-webgpu.mjs on small clips made here with ffmpeg (a
 * plain clip, a folder of frames, a phone-style clip with rotation metadata and an odd size, a clip cut with
 * an edit list), and bad input of every kind. Nothing the user did not name as an output may change; every
 * refusal is one line with the right exit status, before any work.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(__dirname, '../../bin/sam2-webgpu.mjs');
const root = mkdtempSync(join(tmpdir(), 'sam2-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function ffmpeg(...args: string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

function probe(path: string): { width: number; height: number; frames: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'json', path], {
    encoding: 'utf8',
  });
  const s = JSON.parse(r.stdout).streams[0];
  return { width: s.width, height: s.height, frames: Number(s.nb_read_frames) };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command; `track` runs on the synthetic weights unless the arguments name weights. */
function cli(args: string[], cwd = root, env: NodeJS.ProcessEnv = process.env): Run {
  const full = args[0] === 'track' && !args.some((a) => a.startsWith('--weights')) ? [...args, '--weights', 'synthetic'] : args;
  const r = spawnSync(process.execPath, [BIN, ...full], { cwd, encoding: 'utf8', timeout: 600_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under a folder with its size and modification time: what "nothing changed" means. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[p] = `${st.size}:${st.mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

/** A refusal: the exit status, one line on stderr (no stack trace), matching `message`. */
function expectRefused(r: Run, status: number, message: RegExp): void {
  // Runs that reach the model may first warn that the weights are synthetic, and show progress.
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^sam2-webgpu track: synthetic weights|^loading the model|^prompting frame|^tracking: frame/.test(l));
  expect(r.stderr).toMatch(message);
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.status, r.stderr).toBe(status);
}

/** Size of a PNG from its IHDR chunk. */
function pngSize(path: string): [number, number] {
  const b = readFileSync(path);
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

let clip: string;
let frames: string;
let rotated: string;
let cut: string;

beforeAll(() => {
  clip = join(root, 'clips', 'clip.mp4');
  mkdirSync(join(root, 'clips'));
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '40', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip);
  frames = join(root, 'frames');
  mkdirSync(frames);
  ffmpeg('-i', clip, '-frames:v', '5', '-start_number', '0', join(frames, '%05d.jpg'));
  writeFileSync(join(frames, 'notes.txt'), 'my notes');
  // A phone-style clip: a 65×49 stream (odd size) shown rotated by 90°, i.e. 49×65.
  const odd = join(root, 'clips', 'odd.mp4');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=65x49:rate=10', '-frames:v', '8', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', odd);
  rotated = join(root, 'clips', 'rotated.mp4');
  ffmpeg('-i', odd, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated);
  // A clip cut without re-encoding: an edit list, more packets than frames that play.
  const long = join(root, 'clips', 'long.mp4');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '30', '-c:v', 'libx264', '-bf', '3', '-g', '30', '-pix_fmt', 'yuv420p', long);
  cut = join(root, 'clips', 'cut.mp4');
  ffmpeg('-ss', '1.3', '-i', long, '-c', 'copy', cut);
});

const FAST = ['--weights', 'synthetic', '--image-size', '64'];

describe('the command line refuses bad input before any work, in one line', () => {
  it('--version and --help', () => {
    const v = cli(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')).version);
    expect(cli(['track', '--help']).stdout).toMatch(/--overwrite/);
  });

  it('numbers and ids', () => {
    const cases: [string[], RegExp][] = [
      [['--point', ','], /--point ,: expected 2 comma-separated numbers/],
      [['--point', '1,'], /--point 1,: expected 2/],
      [['--point', 'abc,2'], /expected 2 comma-separated numbers/],
      [['--point', '3,4,7'], /the label must be 1 \(positive\) or 0 \(negative\)/],
      [['--box', ',,,'], /--box ,,,: expected 4 comma-separated numbers/],
      [['--obj', '0', '--point', '3,4'], /--obj must be an integer from 1 to 255, not '0'/],
      [['--obj', '256', '--point', '3,4'], /--obj must be an integer from 1 to 255, not '256'/],
      [['--obj', '257', '--point', '3,4'], /--obj must be an integer from 1 to 255, not '257'/],
      [['--obj', '1.5', '--point', '3,4'], /--obj must be an integer/],
      [['--frame', '', '--point', '3,4'], /--frame must be an integer >= 0, not ''/],
      [['--frame=-1', '--point', '3,4'], /--frame must be an integer >= 0, not '-1'/],
      [['--frame', '-1', '--point', '3,4'], /--frame -1: a value that starts with '-' is written --frame=-1/],
      [['--point', '-5,100'], /--point -5,100: a value that starts with '-' is written --point=-5,100/],
      [['--point', '3,4', '--max-frames', 'x'], /--max-frames must be an integer >= 0, not 'x'/],
      [['--point', '3,4', '--fps', 'abc'], /--fps must be a number from 0\.01 to 1000, not 'abc'/],
      [['--point', '3,4', '--fps', '0'], /--fps must be a number from 0\.01 to 1000/],
      [['--point', '3,4', '--fps', '1e-5'], /--fps must be a number from 0\.01 to 1000/],
      [['--point', '3,4', '--fps=-5'], /--fps must be a number from 0\.01/],
      [['--point', '3,4', '--image-size', '4096'], /--image-size must be a multiple of 32 from 64 to 1024, not '4096'/],
      [['--point', '3,4', '--frame', '3'], /--frame 3 comes after the last prompt and applies to none; put it before the --point or --box it is for/],
      [['--obj', '2', '--obj', '3', '--point', '3,4'], /--obj 2 is followed by no --point or --box/],
      [['--point', '3,4', '--image-size', '100'], /--image-size must be a multiple of 32 from 64 to 1024, not '100'/],
      [['--point', '3,4', '--fill-hole-area=-1'], /--fill-hole-area must be an integer >= 0/],
      [['--point', '3,4', '--out', join(root, 'x.avi')], /--out .*x\.avi: the overlay video is an H\.264 MP4; give a name ending in \.mp4/],
      [['--point', '3,4', '--dtype', 'f64'], /--dtype must be f32 or f16/],
      [[], /no prompt: give at least one --point or --box/],
    ];
    for (const [args, message] of cases) expectRefused(cli(['track', clip, ...args]), 2, message);
  });

  it('prompts outside the video, checked against its frames and size before the model loads', () => {
    const out = join(root, 'never.mp4');
    expectRefused(cli(['track', clip, '--point', '65,3', '--out', out]), 1, /object 1 on frame 0: point 0 \(65, 3\) is outside the frame \(64×48 video pixels\)/);
    expectRefused(cli(['track', clip, '--box', '0,0,10,60', '--out', out]), 1, /box \[0, 0, 10, 60\] is outside the frame \(64×48 video pixels\)/);
    expectRefused(cli(['track', clip, '--frame', '40', '--point', '3,3', '--out', out]), 1, /prompt frame 40 is out of range \(the video has 40 frames: 0\.\.39\)/);
    // Coordinates are displayed pixels: the rotated clip is 49 wide and 65 tall.
    expectRefused(cli(['track', rotated, '--point', '60,10', '--out', out]), 1, /point 0 \(60, 10\) is outside the frame \(49×65 video pixels\)/);
    expect(existsSync(out)).toBe(false);
  });

  it('missing or unusable inputs and weights', () => {
    const out = join(root, 'never.mp4');
    expectRefused(cli(['track', join(root, 'nope.mp4'), '--point', '3,3', '--out', out]), 1, /video source .*nope\.mp4 does not exist/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', out, '--weights', join(root, 'none.safetensors')]), 1, /weights .*none\.safetensors does not exist/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', out, '--weights', frames]), 1, /weights .*frames is a folder, not a file/);
    expectRefused(cli(['convert', join(root, 'none.pt'), join(root, 'w.safetensors')]), 1, /checkpoint .*none\.pt does not exist/);
    expectRefused(cli(['convert', frames, join(root, 'w.safetensors')]), 1, /checkpoint .*frames is a folder, not a file/);
    // A missing output folder is created (and removed again if the conversion fails).
    const small = resolve(__dirname, '../fixtures/ckpt/small.pt');
    const made = cli(['convert', small, join(root, 'new', 'deeper', 'w.safetensors'), '--allow-unknown-config']);
    expect(made.status, made.stderr).toBe(0);
    expect(readdirSync(join(root, 'new', 'deeper'))).toEqual(['w.safetensors']);
    expectRefused(cli(['convert', clip, join(root, 'new2', 'w.safetensors')]), 1, /clip\.mp4/);
    expect(existsSync(join(root, 'new2'))).toBe(false);
    rmSync(join(root, 'new'), { recursive: true });
    expect(existsSync(out)).toBe(false);
  });

  it('outputs that are, contain or sit inside an input are refused, even with --overwrite', () => {
    const before = snapshot(root);
    for (const extra of [[], ['--overwrite']]) {
      const base = ['track', '--point', '3,3', ...extra];
      expectRefused(cli([...base.slice(0, 1), frames, ...base.slice(1), '--masks', frames]), 2, /--masks .*frames is the input .*frames; choose another path/);
      expectRefused(cli([...base.slice(0, 1), frames, ...base.slice(1), '--masks', `${frames}/`]), 2, /is the input/);
      expectRefused(cli([...base.slice(0, 1), frames, ...base.slice(1), '--masks', join(frames, 'masks')]), 2, /is inside the input folder/);
      expectRefused(cli([...base.slice(0, 1), clip, ...base.slice(1), '--masks', clip]), 2, /--masks .*clip\.mp4 is the input/);
      expectRefused(cli([...base.slice(0, 1), clip, ...base.slice(1), '--out', clip]), 2, /--out .*clip\.mp4 is the input/);
      expectRefused(cli([...base.slice(0, 1), clip, ...base.slice(1), '--json', clip]), 2, /--json .*clip\.mp4 is the input/);
      expectRefused(cli([...base.slice(0, 1), clip, ...base.slice(1), '--masks', join(root, 'clips')]), 2, /--masks .*clips contains the input/);
      // `--masks .` from the folder that holds the video.
      expectRefused(cli([...base.slice(0, 1), 'clip.mp4', ...base.slice(1), '--masks', '.', '--out', join(root, 'o.mp4')], join(root, 'clips')), 2, /--masks \. contains the input clip\.mp4/);
      // Two outputs in one place.
      expectRefused(cli([...base.slice(0, 1), clip, ...base.slice(1), '--out', join(root, 'res', 'clip.mp4'), '--masks', join(root, 'res')]), 2, /--out .*clip\.mp4 is inside --masks/);
      expectRefused(cli([...base.slice(0, 1), clip, ...base.slice(1), '--out', join(root, 'same.mp4'), '--json', join(root, 'same.mp4')]), 2, /--json and --out are the same path/);
    }
    expect(snapshot(root)).toEqual(before);
    expect(existsSync(join(root, 'res'))).toBe(false);
  });

  it('existing outputs are refused without --overwrite; a folder of other files is never replaced', async () => {
    const keep = join(root, 'keep');
    mkdirSync(join(keep, 'masks'), { recursive: true });
    writeFileSync(join(keep, 'old.mp4'), 'my video');
    writeFileSync(join(keep, 'old.json'), '{"mine": true}');
    writeFileSync(join(keep, 'masks', 'vacation.jpg'), 'a photo');
    writeFileSync(join(keep, 'clip.sam2.mp4'), 'an earlier result');
    mkdirSync(join(keep, 'folder.mp4'));
    mkdirSync(join(keep, 'pngframes'));
    ffmpeg('-i', clip, '-frames:v', '2', '-start_number', '0', join(keep, 'pngframes', '%05d.png'));
    const before = snapshot(keep);
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', join(keep, 'old.mp4')]), 2, /--out .*old\.mp4 already exists; choose another path or allow replacing it \(--overwrite\)/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--json', join(keep, 'old.json'), '--out', join(keep, 'new.mp4')]), 2, /--json .*old\.json already exists/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--masks', join(keep, 'masks'), '--out', join(keep, 'new.mp4')]), 2, /--masks .*masks already exists/);
    expectRefused(
      cli(['track', clip, '--point', '3,3', '--masks', join(keep, 'masks'), '--out', join(keep, 'new.mp4'), '--overwrite']),
      2,
      /--masks .*masks holds vacation\.jpg, which this job does not write; it will not be replaced/,
    );
    // RGB frames named like masks are not masks.
    expectRefused(
      cli(['track', clip, '--point', '3,3', '--masks', join(keep, 'pngframes'), '--out', join(keep, 'new.mp4'), '--overwrite']),
      2,
      /--masks .*pngframes holds 00000\.png, which this job does not write/,
    );
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', join(keep, 'folder.mp4'), '--overwrite']), 2, /--out .*folder\.mp4 is a folder; give a file name/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--masks', join(keep, 'old.mp4'), '--out', join(keep, 'n.mp4'), '--overwrite']), 2, /--masks .*old\.mp4 exists and is not a folder/);
    // An empty folder is filled without asking (checked by the plan alone: no run needed to see it accepted).
    mkdirSync(join(keep, 'empty'));
    const { OutputPlan } = await import('../../src/io/outputs.js');
    const plan = new OutputPlan({ inputs: [clip], outputs: [{ path: join(keep, 'empty'), kind: 'folder', label: '--masks', replaceable: () => false }] });
    plan.finish();
    // The default output name in the current folder counts too.
    expectRefused(cli(['track', clip, '--point', '3,3'], keep), 2, /--out clip\.sam2\.mp4 already exists/);
    // convert's output likewise.
    expectRefused(cli(['convert', clip, join(keep, 'old.json')]), 2, /output .*old\.json already exists/);
    expect(snapshot(keep)).toEqual(before);
    expect(readFileSync(join(keep, 'masks', 'vacation.jpg'), 'utf8')).toBe('a photo');
  });

  it('outputs that cannot be written are found before the model loads', () => {
    writeFileSync(join(root, 'a-file'), 'x');
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', join(root, 'a-file', 'o.mp4')]), 2, /cannot create --out .*o\.mp4: .*a-file is a file, not a folder/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--json', join(root, 'a-file', 'deeper', 's.json'), '--out', join(root, 'o.mp4')]), 2, /cannot create --json/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', `${clip}/o.mp4`]), 2, /cannot create --out .*clip\.mp4\/o\.mp4: .*clip\.mp4 is a file, not a folder/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', '/proc/o.mp4']), 2, /cannot write --out \/proc\/o\.mp4: the folder \/proc is not writable/);
    expectRefused(cli(['track', clip, '--point', '3,3', '--out', join(root, 'o.mp4'), '--json', '/proc/x/s.json']), 2, /cannot write --json/);
    expect(existsSync(join(root, 'o.mp4'))).toBe(false);
  });
});

describe('the command line on real files', () => {
  it('a rotated, odd-sized phone clip: displayed size everywhere, exact progress with --reverse, JSON, no driver noise', () => {
    const dir = join(root, 'rot');
    const r = cli(['track', rotated, ...FAST, '--frame', '3', '--point', '20,30', '--reverse', '--max-frames', '2', '--fill-hole-area', '0', '--out', join(dir, 'r.mp4'), '--masks', join(dir, 'masks') + '/', '--json', join(dir, 'r.json')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/artificially reduced/);
    // Frames 3, 2, 1 backwards and 3, 4, 5 forwards (at most 2 beyond the start each way): 6 steps.
    const steps = [...r.stderr.matchAll(/\((\d+)\/(\d+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(steps.at(-1)).toEqual([6, 6]);
    expect(r.stdout).toMatch(/masks: .*rot\/masks\//);
    expect(probe(join(dir, 'r.mp4'))).toEqual({ width: 49, height: 65, frames: 8 });
    const masks = readdirSync(join(dir, 'masks')).sort();
    expect(masks).toEqual(Array.from({ length: 8 }, (_, i) => `0000${i}.png`));
    for (const m of masks) expect(pngSize(join(dir, 'masks', m))).toEqual([49, 65]);
    const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    // ffmpeg's rotate=90 tag is a counterclockwise quarter turn: shown turned 270° clockwise.
    expect([json.width, json.height, json.rotation, json.frames, json.fillHoleArea]).toEqual([49, 65, 270, 8, 0]);
    expect(json.prompts).toEqual([{ frame: 3, objId: 1, points: [[20, 30]], labels: [1] }]);
    expect(json.perFrame.map((f: { tracked: boolean }) => f.tracked)).toEqual([false, true, true, true, true, true, false, false]);
    expect(json.perFrame[0].objects).toEqual([]);
    expect(json.perFrame[7].objects).toEqual([]);
    for (const f of json.perFrame.slice(1, 6)) {
      expect(f.objects).toHaveLength(1);
      expect(f.objects[0].present).toBe(f.objects[0].area > 0);
    }
    expect(readdirSync(dir).sort()).toEqual(['masks', 'r.json', 'r.mp4']);
  });

  it('a clip cut with an edit list tracks every frame that plays; --overwrite replaces earlier results', () => {
    const dir = join(root, 'cut');
    const frameCount = probe(cut).frames;
    const args = ['track', cut, ...FAST, '--point', '30,20', '--out', join(dir, 'c.mp4'), '--masks', join(dir, 'm'), '--json', join(dir, 'c.json')];
    // --reverse from frame 0 tracks nothing backwards: the progress total is the forward frames.
    const r = cli([...args, '--reverse']);
    expect(r.status, r.stderr).toBe(0);
    const steps = [...r.stderr.matchAll(/\((\d+)\/(\d+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(steps.at(-1)).toEqual([frameCount, frameCount]);
    const json = JSON.parse(readFileSync(join(dir, 'c.json'), 'utf8'));
    expect(json.frames).toBe(frameCount);
    expect(json.trackedFrames).toBe(frameCount);
    expect(readdirSync(join(dir, 'm'))).toHaveLength(frameCount);
    expect(probe(join(dir, 'c.mp4')).frames).toBe(frameCount);
    // Again: refused without --overwrite (nothing changes), replaced with it.
    const before = snapshot(dir);
    expectRefused(cli(args), 2, /already exists/);
    expect(snapshot(dir)).toEqual(before);
    const again = cli([...args, '--overwrite', '--max-frames', '1']);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'c.json'), 'utf8')).trackedFrames).toBe(2);
    expect(readdirSync(join(dir, 'm'))).toHaveLength(frameCount);
    expect(readdirSync(dir).sort()).toEqual(['c.json', 'c.mp4', 'm']);
  });

  it('a frame folder with a truncated JPEG fails naming the file, and leaves nothing behind', () => {
    const dir = join(root, 'trunc');
    mkdirSync(dir);
    for (const f of readdirSync(frames).filter((n) => n.endsWith('.jpg'))) copyFileSync(join(frames, f), join(dir, f));
    const bad = join(dir, '00002.jpg');
    writeFileSync(bad, readFileSync(bad).subarray(0, 300));
    const out = join(root, 'trunc-out');
    const r = cli(['track', dir, ...FAST, '--point', '30,20', '--out', join(out, 't.mp4'), '--masks', join(out, 'm')]);
    expectRefused(r, 1, /00002\.jpg/);
    expect(existsSync(out)).toBe(false);
  });

  for (const [signal, group, code] of [['SIGINT', true, 130], ['SIGTERM', false, 143]] as const) {
    it(`${signal}${group ? ' to the process group (Ctrl-C)' : ''} removes every unfinished output and exits ${code}`, async () => {
      const dir = join(root, `sig-${signal}`);
      const child = spawn(process.execPath, [BIN, 'track', clip, ...FAST, '--point', '30,20', '--out', join(dir, 'deep', 's.mp4'), '--masks', join(dir, 'deep', 'm'), '--json', join(dir, 's.json')], {
        cwd: root,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      const exited = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
      await new Promise<void>((res, rej) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (/tracking: frame \d+/.test(stderr)) res();
        });
        child.on('close', () => rej(new Error(`exited before tracking: ${stderr}`)));
      });
      expect(readdirSync(join(dir, 'deep')).some((n) => n.includes('.partial-'))).toBe(true);
      process.kill(group ? -child.pid! : child.pid!, signal);
      expect(await exited).toBe(code);
      expect(stderr).toMatch(new RegExp(`interrupted \\(${signal}\\); the unfinished outputs were removed`));
      expect(existsSync(dir)).toBe(false);
    });
  }
});
