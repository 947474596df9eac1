/**
 * A tiny WGSL preprocessor.
 *
 * Directives (each on its own line):
 *   #include "common.wgsl"           inline another embedded file (once)
 *   #define NAME value               replace the identifier NAME by value in the lines that follow
 *   #if EXPR / #elif EXPR / #else / #endif   EXPR over defines: numbers, !, &&, ||, ==, !=, <, <=, >, >=, + - * /, ( )
 *   #ifdef NAME / #ifndef NAME
 *   #tensor NAME BINDING read|write|read_write [st|pairs|f32|f16|bf16|u32|i32] [vec4]
 *       declares a storage binding and its accessors, for the storage mode of this variant. BINDING is a
 *       number or an expression over defines without spaces (1+X+BIAS), for bindings that follow optional ones.
 *       ld_NAME(i) -> f32, ld4_NAME(i) -> vec4<f32> (i % 4 == 0), st_NAME(i, v), st2_NAME(i, vec2) (i even,
 *       the pair owned by this invocation), st4_NAME(i, vec4) (i % 4 == 0). `st` (the default) is the
 *       variant's storage type: f32, f16 (shader-f16) or f16 pairs packed in u32 (unpack2x16float).
 *       bf16 (pairs in u32, upper 16 bits of an f32, round to nearest even on store) works in every mode.
 *       `vec4` binds the storage type in whole vec4 units: ld4_NAME(i) (i % 4 == 0) is one 16-byte (f32) or
 *       8-byte (f16, packed f16) load instead of four, which software adapters run several times faster;
 *       ldq_NAME(q) is the same by quad index (elements 4q .. 4q + 3); ld_NAME(i) reads one element; a
 *       writable vec4 tensor has st4_NAME(i, v) and stq_NAME(q, v) (whole quads only). The bound tensor's
 *       size must be a multiple of 4. `pairs vec4` (read-only) reads f16 as u32 pairs in both f16 modes
 *       (lavapipe's loads cost per component, so two halves per component halve a load's cost); in f32 it is
 *       `vec4`.
 *
 * Files are looked up by name in the embedded map (src/generated/wgsl.ts), then among those added with
 * registerWgsl (benchmarks' own kernels, kept out of the engine's bundle).
 *
 * Predefined: F32, F16 (either f16 storage mode), F16_NATIVE, F16_PACKED; `enable f16;` is emitted for the
 * native f16 mode. Defines are compile-time variant values (tile sizes, activation); shapes never go here.
 */

export type StorageMode = 'f32' | 'f16' | 'f16packed';
export type DefineValue = number | boolean | string;

export interface PreprocessOptions {
  mode: StorageMode;
  defines?: Record<string, DefineValue>;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/g;

const registered: Record<string, string> = {};

/** Adds WGSL files, by file name, to those #include and the pipeline cache find besides the embedded ones. */
export function registerWgsl(files: Record<string, string>): void {
  Object.assign(registered, files);
}

export function preprocess(
  file: string,
  sources: Record<string, string>,
  opts: PreprocessOptions,
): string {
  const defines = new Map<string, string>();
  defines.set('F32', opts.mode === 'f32' ? '1' : '0');
  defines.set('F16', opts.mode === 'f32' ? '0' : '1');
  defines.set('F16_NATIVE', opts.mode === 'f16' ? '1' : '0');
  defines.set('F16_PACKED', opts.mode === 'f16packed' ? '1' : '0');
  for (const [k, v] of Object.entries(opts.defines ?? {})) {
    defines.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  const included = new Set<string>();
  const out: string[] = [];
  if (opts.mode === 'f16') out.push('enable f16;');
  expand(file, sources, defines, included, out, opts.mode);
  return out.join('\n');
}

function expand(
  file: string,
  sources: Record<string, string>,
  defines: Map<string, string>,
  included: Set<string>,
  out: string[],
  mode: StorageMode,
): void {
  const src = sources[file] ?? registered[file];
  if (src === undefined) throw new Error(`WGSL file not embedded: ${file}`);
  included.add(file);
  // Stack of [active, anyBranchTaken, parentActive]
  const stack: Array<{ active: boolean; taken: boolean; parent: boolean }> = [];
  const active = () => (stack.length === 0 ? true : stack[stack.length - 1].active);
  const lines = src.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln];
    const t = line.trim();
    const where = `${file}:${ln + 1}`;
    if (t.startsWith('#')) {
      const m = /^#(\w+)\s*(.*)$/.exec(t);
      if (!m) throw new Error(`${where}: bad directive`);
      const [, dir, rest] = m;
      switch (dir) {
        case 'if':
        case 'ifdef':
        case 'ifndef': {
          const parent = active();
          let cond: boolean;
          if (dir === 'if') cond = evalExpr(rest, defines, where) !== 0;
          else cond = defines.has(rest.trim()) === (dir === 'ifdef');
          stack.push({ active: parent && cond, taken: cond, parent });
          continue;
        }
        case 'elif': {
          const top = stack[stack.length - 1];
          if (!top) throw new Error(`${where}: #elif without #if`);
          const cond = !top.taken && evalExpr(rest, defines, where) !== 0;
          top.active = top.parent && cond;
          top.taken = top.taken || cond;
          continue;
        }
        case 'else': {
          const top = stack[stack.length - 1];
          if (!top) throw new Error(`${where}: #else without #if`);
          top.active = top.parent && !top.taken;
          top.taken = true;
          continue;
        }
        case 'endif':
          if (!stack.pop()) throw new Error(`${where}: #endif without #if`);
          continue;
      }
      if (!active()) continue;
      switch (dir) {
        case 'include': {
          const name = /^"([^"]+)"$/.exec(rest.trim())?.[1];
          if (!name) throw new Error(`${where}: #include needs a quoted file name`);
          if (!included.has(name)) expand(name, sources, defines, included, out, mode);
          continue;
        }
        case 'define': {
          const dm = /^(\w+)\s*(.*)$/.exec(rest);
          if (!dm) throw new Error(`${where}: bad #define`);
          if (!defines.has(dm[1])) defines.set(dm[1], substitute(dm[2].trim() || '1', defines));
          continue;
        }
        case 'tensor': {
          out.push(tensorDecl(rest.trim().split(/\s+/), mode, defines, where, included));
          continue;
        }
        default:
          throw new Error(`${where}: unknown directive #${dir}`);
      }
    }
    if (active()) out.push(substitute(line, defines));
  }
  if (stack.length) throw new Error(`${file}: unterminated #if`);
}

function substitute(line: string, defines: Map<string, string>): string {
  const comment = line.indexOf('//');
  const code = comment >= 0 ? line.slice(0, comment) : line;
  const rest = comment >= 0 ? line.slice(comment) : '';
  return code.replace(IDENT, (id) => defines.get(id) ?? id) + rest;
}

/** Evaluates a #if expression: integers, defines, unary !, -, binary arithmetic, comparison, && ||. */
export function evalExpr(expr: string, defines: Map<string, string>, where = ''): number {
  const toks = expr.match(/\d+(\.\d+)?|[A-Za-z_]\w*|&&|\|\||==|!=|<=|>=|[!<>()+\-*/%]/g) ?? [];
  let p = 0;
  const peek = () => toks[p];
  const next = () => toks[p++];
  const prec: Record<string, number> = {
    '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 4, '<=': 4, '>': 4, '>=': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6,
  };
  const unary = (): number => {
    const t = next();
    if (t === undefined) throw new Error(`${where}: incomplete #if expression "${expr}"`);
    if (t === '!') return unary() === 0 ? 1 : 0;
    if (t === '-') return -unary();
    if (t === '(') {
      const v = binary(0);
      if (next() !== ')') throw new Error(`${where}: missing ) in "${expr}"`);
      return v;
    }
    if (/^\d/.test(t)) return Number(t);
    if (t === 'defined') {
      let name = next();
      if (name === '(') { name = next(); next(); }
      return defines.has(name) ? 1 : 0;
    }
    const v = defines.get(t);
    if (v === undefined) return 0;
    const n = Number(v);
    if (Number.isNaN(n)) throw new Error(`${where}: define ${t}=${v} is not a number in "${expr}"`);
    return n;
  };
  const binary = (minPrec: number): number => {
    let lhs = unary();
    for (;;) {
      const op = peek();
      const pr = op !== undefined ? prec[op] : undefined;
      if (pr === undefined || pr < minPrec) return lhs;
      next();
      const rhs = binary(pr + 1);
      switch (op) {
        case '||': lhs = lhs || rhs ? 1 : 0; break;
        case '&&': lhs = lhs && rhs ? 1 : 0; break;
        case '==': lhs = lhs === rhs ? 1 : 0; break;
        case '!=': lhs = lhs !== rhs ? 1 : 0; break;
        case '<': lhs = lhs < rhs ? 1 : 0; break;
        case '<=': lhs = lhs <= rhs ? 1 : 0; break;
        case '>': lhs = lhs > rhs ? 1 : 0; break;
        case '>=': lhs = lhs >= rhs ? 1 : 0; break;
        case '+': lhs += rhs; break;
        case '-': lhs -= rhs; break;
        case '*': lhs *= rhs; break;
        case '/': lhs = Math.trunc(lhs / rhs); break;
        case '%': lhs %= rhs; break;
      }
    }
  };
  const v = binary(0);
  if (p !== toks.length) throw new Error(`${where}: unexpected "${toks[p]}" in #if "${expr}"`);
  return v;
}

function tensorDecl(args: string[], mode: StorageMode, defines: Map<string, string>, where: string, emitted: Set<string>): string {
  const [name, bindingExpr, access, ...flags] = args;
  const usage = `${where}: #tensor NAME BINDING read|write|read_write [st|pairs|f32|f16|bf16|u32|i32] [vec4]`;
  const binding = bindingExpr === undefined ? NaN : evalExpr(bindingExpr, defines, where);
  const vec4 = flags.includes('vec4');
  const types = flags.filter((f) => f !== 'vec4');
  if (!name || !Number.isInteger(binding) || binding < 0 || !['read', 'write', 'read_write'].includes(access) || types.length > 1) {
    throw new Error(usage);
  }
  const typeArg = types[0] ?? 'st';
  const acc = access === 'read' ? 'read' : 'read_write';
  const writable = access !== 'read';
  const b = `@group(0) @binding(${binding})`;
  const L: string[] = [];
  if (vec4) {
    if (typeArg !== 'st' && typeArg !== 'pairs') throw new Error(`${where}: vec4 tensors take st or pairs, not ${typeArg}`);
    if (writable && typeArg === 'pairs') throw new Error(`${where}: pairs tensors are read-only`);
    const et = mode === 'f32' ? 'f32' : mode === 'f16' && typeArg === 'st' ? 'f16' : 'pairs';
    if (et === 'pairs') {
      L.push(`${b} var<storage, ${acc}> ${name}: array<vec2<u32>>;`);
      L.push(`fn ldq_${name}(_q: u32) -> vec4<f32> { let _pw = ${name}[_q]; return vec4<f32>(unpack2x16float(_pw.x), unpack2x16float(_pw.y)); }`);
      L.push(`fn ld4_${name}(i: u32) -> vec4<f32> { let _pw = ${name}[i >> 2u]; return vec4<f32>(unpack2x16float(_pw.x), unpack2x16float(_pw.y)); }`);
      L.push(`fn ld_${name}(i: u32) -> f32 { return unpack2x16float(${name}[i >> 2u][(i >> 1u) & 1u])[i & 1u]; }`);
      if (writable) {
        L.push(`fn stq_${name}(_q: u32, _v: vec4<f32>) { ${name}[_q] = vec2<u32>(pack2x16float(_v.xy), pack2x16float(_v.zw)); }`);
        L.push(`fn st4_${name}(_i: u32, _v: vec4<f32>) { stq_${name}(_i >> 2u, _v); }`);
      }
    } else {
      L.push(`${b} var<storage, ${acc}> ${name}: array<vec4<${et}>>;`);
      const load = et === 'f32' ? `${name}[_q]` : `vec4<f32>(${name}[_q])`;
      L.push(`fn ldq_${name}(_q: u32) -> vec4<f32> { return ${load}; }`);
      L.push(`fn ld4_${name}(i: u32) -> vec4<f32> { return vec4<f32>(${name}[i >> 2u]); }`);
      L.push(`fn ld_${name}(i: u32) -> f32 { return f32(${name}[i >> 2u][i & 3u]); }`);
      if (writable) {
        L.push(`fn stq_${name}(_q: u32, _v: vec4<f32>) { ${name}[_q] = ${et === 'f32' ? '_v' : 'vec4<f16>(_v)'}; }`);
        L.push(`fn st4_${name}(_i: u32, _v: vec4<f32>) { stq_${name}(_i >> 2u, _v); }`);
      }
    }
    return L.join('\n');
  }
  const type = typeArg === 'st' || typeArg === 'pairs' ? (mode === 'f32' ? 'f32' : mode === 'f16' && typeArg === 'st' ? 'f16' : 'packed') : typeArg;
  if (type === 'u32' || type === 'i32') {
    L.push(`${b} var<storage, ${acc}> ${name}: array<${type}>;`);
    return L.join('\n');
  }
  if (type === 'f32' || type === 'f16') {
    L.push(`${b} var<storage, ${acc}> ${name}: array<${type}>;`);
    L.push(`fn ld_${name}(i: u32) -> f32 { return f32(${name}[i]); }`);
    L.push(
      `fn ld4_${name}(i: u32) -> vec4<f32> { return vec4<f32>(f32(${name}[i]), f32(${name}[i + 1u]), f32(${name}[i + 2u]), f32(${name}[i + 3u])); }`,
    );
    if (writable) {
      L.push(`fn st_${name}(i: u32, v: f32) { ${name}[i] = ${type}(v); }`);
      L.push(`fn st2_${name}(i: u32, v: vec2<f32>) { ${name}[i] = ${type}(v.x); ${name}[i + 1u] = ${type}(v.y); }`);
      L.push(
        `fn st4_${name}(i: u32, v: vec4<f32>) { ${name}[i] = ${type}(v.x); ${name}[i + 1u] = ${type}(v.y); ${name}[i + 2u] = ${type}(v.z); ${name}[i + 3u] = ${type}(v.w); }`,
      );
    }
    return L.join('\n');
  }
  if (type !== 'packed' && type !== 'bf16') throw new Error(`${where}: unknown tensor type ${typeArg}`);
  // 16-bit values in pairs in u32 words: element 2k in the low half, as little-endian bytes lay out.
  const bf = type === 'bf16';
  const un = bf ? `bf16x2_unpack` : `unpack2x16float`;
  const pk = bf ? `bf16x2_pack` : `pack2x16float`;
  if (bf && !emitted.has('<bf16 helpers>')) {
    emitted.add('<bf16 helpers>');
    L.push(`fn bf16x2_unpack(w: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); }`);
    L.push(`fn bf16_round(v: f32) -> u32 { let b = bitcast<u32>(v); if ((b & 0x7fffffffu) > 0x7f800000u) { return (b >> 16u) | 0x40u; } return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u; }`);
    L.push(`fn bf16x2_pack(v: vec2<f32>) -> u32 { return bf16_round(v.x) | (bf16_round(v.y) << 16u); }`);
  }
  if (!writable) {
    L.push(`${b} var<storage, read> ${name}: array<u32>;`);
    L.push(`fn ld_${name}(i: u32) -> f32 { return ${un}(${name}[i >> 1u])[i & 1u]; }`);
    L.push(
      `fn ld4_${name}(i: u32) -> vec4<f32> { let _pw = i >> 1u; return vec4<f32>(${un}(${name}[_pw]), ${un}(${name}[_pw + 1u])); }`,
    );
    return L.join('\n');
  }
  L.push(`${b} var<storage, read_write> ${name}: array<atomic<u32>>;`);
  L.push(`fn ld_${name}(i: u32) -> f32 { return ${un}(atomicLoad(&${name}[i >> 1u]))[i & 1u]; }`);
  L.push(
    `fn ld4_${name}(i: u32) -> vec4<f32> { let _pw = i >> 1u; return vec4<f32>(${un}(atomicLoad(&${name}[_pw])), ${un}(atomicLoad(&${name}[_pw + 1u]))); }`,
  );
  // A lone half is merged into its word with a compare-exchange loop (the other half may be written by
  // another invocation at the same time).
  L.push(`fn st_${name}(i: u32, v: f32) {
  let _pw = i >> 1u;
  let _hi = (i & 1u) == 1u;
  let _h = ${pk}(vec2<f32>(v, 0.0)) & 0xffffu;
  var _old = atomicLoad(&${name}[_pw]);
  loop {
    let _nw = select((_old & 0xffff0000u) | _h, (_old & 0xffffu) | (_h << 16u), _hi);
    let _r = atomicCompareExchangeWeak(&${name}[_pw], _old, _nw);
    if (_r.exchanged) { break; }
    _old = _r.old_value;
  }
}`);
  L.push(`fn st2_${name}(i: u32, v: vec2<f32>) { atomicStore(&${name}[i >> 1u], ${pk}(v)); }`);
  L.push(
    `fn st4_${name}(i: u32, v: vec4<f32>) { let _pw = i >> 1u; atomicStore(&${name}[_pw], ${pk}(v.xy)); atomicStore(&${name}[_pw + 1u], ${pk}(v.zw)); }`,
  );
  return L.join('\n');
}
