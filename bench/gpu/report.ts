/**
 * The device kit's report: the phases' JSON files (info, checks, kernels, model, peers, torch) merged into
 * one document and a markdown page with the ratios against the official PyTorch predictor and against
 * onnxruntime's WebGPU EP. A phase that did not run (or ran out of time) is named, not invented.
 */

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A parity check of an f16 variant above its bound: "<tensor> (f16): …, above the bound …". */
const F16_PARITY = /^[^\n]*\((?:f16|f16packed)\): [^\n]*(?:above the bound|above [0-9.e-]+:|cosine below)/;

/** Failures that stop the run: any but an f16 / packed-f16 parity check above its bound. */
export function blocking<T extends { status: string; error?: string }>(outcomes: readonly T[]): T[] {
  return outcomes.filter((o) => o.status === 'failed' && !F16_PARITY.test(o.error ?? ''));
}

const f = (x: unknown, digits = 2) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—');
const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 ? `${(a / b).toFixed(2)}×` : '—');

/** One row per tracked-frame case of the official predictor: {objects, precision, fps, medianMs}. */
function torchFrames(torch: Json): Array<{ objects: number; precision: string; fps: number; medianMs: number }> {
  const cases: Json[] = torch?.cases ?? [];
  return cases
    .filter((c) => !c.skipped && !c.error && typeof c.fps === 'number')
    .map((c) => ({ objects: Number(c.objects), precision: String(c.precision), fps: c.fps, medianMs: c.median_ms ?? c.medianMs }));
}

/** The status a phase got in phases.json, if it is there. */
function phaseStatus(phases: Json, name: string): string | undefined {
  return Array.isArray(phases) ? phases.find((p: Json) => p.phase === name)?.status : undefined;
}

export function report(dir: string, read: (file: string) => Json): { json: Json; md: string } {
  const info = read('info.json');
  const checks = read('checks.json');
  const kernels = read('kernels.json');
  const model = read('model.json');
  const large = read('model-large.json');
  const peers = read('peers.json');
  const torch = read('torch.json');
  const phases = read('phases.json');
  const json = { date: new Date().toISOString(), dir, phases, info, checks, kernels, model, large, peers, torch };
  const out: string[] = [];
  const a = info?.adapter;
  out.push(`# sam2-webgpu on ${a ? a.description || a.device || a.vendor : 'an unknown adapter'}`, '');
  out.push(`Date: ${json.date}.`);
  if (info) {
    out.push(
      `Adapter: ${a.description || a.device} (vendor ${a.vendor}, architecture ${a.architecture}), Vulkan driver ${info.driver}; subgroups ${a.subgroupMinSize ?? '?'}–${a.subgroupMaxSize ?? '?'} lanes.`,
      `Features: ${Object.entries(info.notable ?? {}).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ')}. Node ${info.node}.`,
    );
  } else out.push('Adapter: the info phase did not run or failed.');
  if (Array.isArray(phases)) {
    out.push('', '| phase | status | seconds |', '|---|---|---:|');
    for (const p of phases) out.push(`| ${p.phase} | ${p.status} | ${f(p.seconds, 0)} |`);
  }

  out.push('', '## Correctness', '');
  if (checks) {
    out.push(`Kernel tests and module parity (the repository's test files, their bounds): **${checks.passed} passed, ${checks.failed} failed, ${checks.skipped} skipped** in ${f(checks.seconds, 0)} s${checks.done ? '' : ' (stopped before the end)'}.`);
    if (checks.failed > 0 && checks.blocking === 0) {
      out.push('', 'Every failure below is an f16 or packed-f16 parity check above its bound; the bounds were measured on the routes CPU adapters take (lavapipe, SwiftShader), and f32 and every kernel check passed, so the timings were taken.', '');
    }
    const failed = (checks.tests ?? []).filter((t: Json) => t.status === 'failed');
    for (const t of failed.slice(0, 30)) out.push(`- FAIL ${t.file} > ${t.name}: ${String(t.error ?? '').split('\n')[0]}`);
  } else out.push('The checks did not run.');

  out.push('', '## Tracked frames and the image encoder (synthetic weights)', '');
  if (model) {
    const mode = model.f16Mode === 'f16' ? 'f16 arithmetic (shader-f16)' : 'f16 stored as packed pairs, f32 arithmetic (no shader-f16)';
    out.push(`Image size ${model.size}; video ${model.video}; frames tracked before timing: ${model.setupFrames}, then timed: ${model.timedFrames}; masks read back to the CPU every frame. The f16 rows: ${mode}.`, '');
    out.push('| model | case | dtype | objects | median ms (wall) | frames/s | GPU ms (timestamps) | bank |', '|---|---|---|---:|---:|---:|---:|---|');
    for (const m of [model, large].filter(Boolean)) {
      for (const c of m.cases ?? []) {
        out.push(`| ${m.model ?? 'sam2.1 tiny'} | ${c.case} | ${c.dtype} | ${c.objects ?? ''} | ${f(c.medianMs)} | ${c.case === 'frame' ? f(c.fps, 1) : ''} | ${f(c.gpuMs)} | ${c.error ? `error: ${c.error}` : (c.bank ?? '')} |`);
      }
      if (m.stoppedAtCap) out.push('', `${m.model}: the phase reached its time cap; cases after its last row did not run.`);
      for (const p of m.pipelines ?? []) {
        out.push('', `${m.model ?? 'sam2.1 tiny'} ${p.dtype}: loaded in ${f(p.loadMs)} ms; the ${p.compiledAhead} pipelines of a click and a tracked frame were compiled ${f(p.readyMs)} ms after the load began (createComputePipelineAsync, in the background).`);
      }
    }
  } else out.push('The model phase did not run.');

  out.push('', '## Against the official PyTorch predictor (same GPU, SAM2VideoPredictor, same frames and clicks)', '');
  const tf = torchFrames(torch);
  if (torch && model) {
    out.push(`PyTorch ${torch.torch ?? '?'} on ${torch.device_name ?? torch.device ?? '?'}; ratio = our frames/s ÷ PyTorch's (above 1: ours is faster).`, '');
    out.push('| objects | ours f32 fps | ours f16 fps | PyTorch f32 fps | PyTorch bf16 fps | ours f32 ÷ PyTorch f32 | ours f16 ÷ PyTorch bf16 |', '|---:|---:|---:|---:|---:|---:|---:|');
    const objs = [...new Set<number>([...(model.cases ?? []).filter((c: Json) => c.case === 'frame').map((c: Json) => c.objects), ...tf.map((t) => t.objects)])].sort();
    for (const o of objs) {
      const ours = (d: string) => (model.cases ?? []).find((c: Json) => c.case === 'frame' && c.objects === o && c.dtype === d)?.fps;
      const pt = (p: string) => tf.find((t) => t.objects === o && t.precision === p)?.fps;
      out.push(`| ${o} | ${f(ours('f32'), 1)} | ${f(ours('f16'), 1)} | ${f(pt('f32'), 1)} | ${f(pt('bf16'), 1)} | ${ratio(ours('f32'), pt('f32'))} | ${ratio(ours('f16'), pt('bf16'))} |`);
    }
  } else out.push(torch ? 'Our model phase did not run.' : `The PyTorch phase did not run: ${phaseStatus(phases, 'torch') ?? 'not asked for'}.`);

  out.push('', "## Against onnxruntime's WebGPU EP (same adapter, same process, alternating)", '');
  if (peers?.results?.length) {
    out.push('Median ms of each runtime (CPU inputs in, CPU outputs back); ratio = onnxruntime ÷ ours (above 1: ours is faster); max|Δ| against the official PyTorch module.', '');
    out.push('| module | size | ours ms | onnxruntime WebGPU ms | onnxruntime ÷ ours | ours max\\|Δ\\| | onnxruntime max\\|Δ\\| |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const r of peers.results) {
      const by = (id: string) => (r.runtimes ?? []).find((x: Json) => x.id === id);
      const o = by('ours');
      const p = by('ort-webgpu');
      const d = (x: Json) => (r.timingOnly || !x ? '—' : Math.max(...Object.values<number>(x.maxAbsDiff ?? {})).toExponential(1));
      out.push(`| ${r.module} | ${r.imageSize} | ${o?.error && !o.runsMs?.length ? 'error' : f(o?.medianMs)} | ${p?.error && !p.runsMs?.length ? 'error' : f(p?.medianMs)} | ${ratio(p?.medianMs, o?.medianMs)} | ${d(o)} | ${d(p)} |`);
    }
    const errs = peers.results.flatMap((r: Json) => (r.runtimes ?? []).filter((x: Json) => x.error).map((x: Json) => `${r.case} ${x.id}: ${x.error}`));
    for (const e of errs) out.push(`- ${e}`);
  } else out.push(`The onnxruntime phase did not run: ${phaseStatus(phases, 'peers') ?? 'not asked for'}.`);

  out.push('', '## Against the goals', '');
  const frame1 = (model?.cases ?? []).find((c: Json) => c.case === 'frame' && c.objects === 1 && c.dtype === 'f32');
  const fps1: number[] = (model?.cases ?? []).filter((c: Json) => c.case === 'frame' && c.objects === 1 && c.fps > 0).map((c: Json) => c.fps);
  const best1 = fps1.length ? Math.max(...fps1) : NaN;
  const pt1 = tf.find((t) => t.objects === 1 && t.precision === 'f32')?.fps;
  const peer1 = (peers?.results ?? []).find((r: Json) => r.module === 'frame1');
  const peerRatio = peer1 ? (peer1.runtimes.find((x: Json) => x.id === 'ort-webgpu')?.medianMs ?? NaN) / (peer1.runtimes.find((x: Json) => x.id === 'ours')?.medianMs ?? NaN) : NaN;
  // The share of the datasheet peak where the adapter is in the table, else of the FMA peak measured in the run.
  const share = kernels?.datasheet ? 'percentOfDatasheet' : 'percentOfMeasuredPeak';
  const big = (kernels?.results ?? []).filter((r: Json) => /^(matmul|linear)$/.test(r.kernel) && r.dtype === 'f32' && Number.isFinite(r[share]));
  const bestKernel = big.reduce((b: Json, r: Json) => (!b || r[share] > b[share] ? r : b), undefined);
  out.push(
    `- one object, full bank, f32: ours ${f(frame1?.fps, 1)} frames/s vs PyTorch eager f32 ${f(pt1, 1)} (goal: at least as fast) — ${ratio(frame1?.fps, pt1)}`,
    `- whole tracked frame against onnxruntime's WebGPU EP: ${Number.isFinite(peerRatio) ? `${peerRatio.toFixed(2)}×` : '—'} (goal: ≥ 2×)`,
    `- matmul / linear f32: best ${bestKernel ? `${f(bestKernel[share], 1)}% of the ${kernels.datasheet ? 'datasheet' : 'measured FMA'} f32 peak (${bestKernel.name})` : '—'} (goal: ≥ 50% of the datasheet peak on the large products)`,
    `- long goal, the official vos_optimized figure (91.2 frames/s for tiny on an A100): ours best ${f(best1, 1)} frames/s for one object`,
  );

  out.push('', '## Kernels at SAM 2 shapes', '');
  if (kernels?.results?.length) {
    const sheet = kernels.datasheet;
    out.push(`Measured f32 FMA peak: ${f(kernels.measuredPeakTflops)} TFLOPS${sheet ? `; datasheet peak (${sheet.name}, without tensor cores): f32 ${sheet.f32}, f16 ${sheet.f16} TFLOPS` : ''}. TFLOPS from the GPU time where timestamps exist, else from the wall time.`, '');
    out.push('| kernel | case | dtype | wall ms | GPU ms | TFLOPS | % measured peak | % datasheet |', '|---|---|---|---:|---:|---:|---:|---:|');
    for (const r of kernels.results) {
      out.push(`| ${r.kernel} | ${r.name} | ${r.dtype} | ${r.skipped ? `skipped: ${r.skipped}` : f(r.medianMs, 3)} | ${f(r.gpuMs, 3)} | ${f(r.tflops)} | ${f(r.percentOfMeasuredPeak, 1)} | ${f(r.percentOfDatasheet, 1)} |`);
    }
    if (kernels.stoppedAtCap) out.push('', 'The phase reached its time cap: cases after the last row did not run.');
  } else out.push('The kernel phase did not run.');
  return { json, md: `${out.join('\n')}\n` };
}
