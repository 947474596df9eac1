/**
 * Ownership by scope. `gpu.tidy(fn)` frees every tensor created while `fn` runs except the ones it returns,
 * as tfjs's `tf.tidy`: a module's forward then reads like the PyTorch forward, its intermediates (named or
 * anonymous, as in `add(gpu, matmul(gpu, x, w), b)`) going back to the pool when it returns. Chosen over
 * `using` declarations because most intermediates of a forward are sub-expressions, not variables, and a
 * `using` variable cannot be returned.
 *
 * - What `fn` returns (a tensor, or tensors inside arrays, Maps, Sets, plain objects and HoldsTensors
 *   instances, at any depth) is kept and handed to the enclosing scope, which frees it in turn unless it returns it too. Outside every
 *   scope a tensor belongs to whoever made it, who frees it with release() or dispose().
 * - `gpu.keep(t)` takes a tensor out of every open scope: state that outlives the call (a cache, a memory
 *   bank entry stored in a map) is kept this way and freed by its owner.
 * - Tensors passed in are never freed by a scope that did not create them, so a function may return its
 *   input or a new tensor without anyone having to know which.
 * - On a throw, everything the scope created is freed.
 *
 * Scopes are synchronous: dispatches are recorded synchronously, and a scope around an `await` would
 * collect the tensors of whatever else runs meanwhile. A `fn` that returns a promise is an error.
 */
import { Sam2Error } from './errors.js';
import type { Tensor } from './tensor.js';

/** Tensors (or containers of tensors) that dispose() and tidy() walk. */
export type TensorContainer = Tensor | null | undefined | readonly TensorContainer[] | ReadonlyMap<unknown, TensorContainer> | ReadonlySet<TensorContainer> | { readonly [k: string]: unknown };

export class Scopes {
  /** Open scopes, innermost last; null: an untracked() frame, whose tensors belong to the caller. */
  private stack: (Set<Tensor> | null)[] = [];

  /** Registers a tensor that owns its buffer with the innermost open scope. */
  track(t: Tensor): void {
    this.stack[this.stack.length - 1]?.add(t);
  }

  run<T>(fn: () => T): T {
    const scope = new Set<Tensor>();
    this.stack.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.pop(scope);
      for (const t of scope) t.release();
      throw e;
    }
    this.pop(scope);
    if (result instanceof Promise) {
      for (const t of scope) t.release();
      throw new Sam2Error('gpu.tidy: the function returned a promise; scopes are synchronous');
    }
    const kept = new Set<object>();
    visit(result, (t) => kept.add(t.ownership));
    const parent = this.stack[this.stack.length - 1];
    for (const t of scope) {
      if (kept.has(t.ownership)) parent?.add(t);
      else t.release();
    }
    return result;
  }

  /** Runs fn outside every scope: what it creates belongs to the caller (a callback's own tensors). */
  untracked<T>(fn: () => T): T {
    this.stack.push(null);
    try {
      return fn();
    } finally {
      this.pop(null);
    }
  }

  keep(t: Tensor): void {
    for (const s of this.stack) for (const u of s ?? []) if (u.ownership === t.ownership) s!.delete(u);
  }

  private pop(scope: Set<Tensor> | null): void {
    if (this.stack.pop() !== scope) throw new Sam2Error('gpu.tidy: scopes closed out of order');
  }
}

/** A class whose instances hold tensors implements this so that scopes and dispose() find them. */
export const heldTensors: unique symbol = Symbol('heldTensors');
export interface HoldsTensors {
  [heldTensors](): readonly Tensor[];
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'ownership' in x && 'buffer' in x && typeof (x as Tensor).release === 'function';
}

/** Calls `f` on every tensor in a container (arrays, Maps, Sets, plain objects; other class instances are not entered). */
export function visit(x: unknown, f: (t: Tensor) => void, seen = new Set<unknown>()): void {
  if (typeof x !== 'object' || x === null || seen.has(x)) return;
  seen.add(x);
  if (isTensor(x)) return f(x);
  if (typeof (x as Partial<HoldsTensors>)[heldTensors] === 'function') return visit((x as HoldsTensors)[heldTensors](), f, seen);
  if (Array.isArray(x)) for (const v of x) visit(v, f, seen);
  else if (x instanceof Map) for (const v of x.values()) visit(v, f, seen);
  else if (x instanceof Set) for (const v of x) visit(v, f, seen);
  else if (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null) {
    for (const v of Object.values(x)) visit(v, f, seen);
  }
}

/** Releases every tensor in a container (as tfjs's tf.dispose); views of one buffer free it once. */
export function dispose(x: TensorContainer | unknown): void {
  visit(x, (t) => t.release());
}
