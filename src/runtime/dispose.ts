/// <reference lib="esnext.disposable" preserve="true" />
/**
 * `using` support: Symbol.dispose / Symbol.asyncDispose, or the registered symbols that TypeScript's and
 * esbuild's `using` fall back to where a runtime lacks them.
 */
import { DisposedError } from './errors.js';

export const disposeSymbol: typeof Symbol.dispose = Symbol.dispose ?? (Symbol.for('Symbol.dispose') as typeof Symbol.dispose);
export const asyncDisposeSymbol: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('Symbol.asyncDispose') as typeof Symbol.asyncDispose);

/**
 * The disposal protocol of a class freed by one method of its own (dispose, close, destroy): `using` and
 * `await using` call free(), which calls it.
 */
export abstract class DisposableResource implements Disposable, AsyncDisposable {
  protected abstract free(): void;

  [disposeSymbol](): void {
    this.free();
  }

  async [asyncDisposeSymbol](): Promise<void> {
    this.free();
  }
}

/** A frame source as its makers build it: get() and close(). */
interface Source {
  readonly description: string;
  get(index: number): Promise<unknown>;
  close(): void;
}

/**
 * Gives a frame source the disposal protocol: close() runs once, Symbol.dispose / Symbol.asyncDispose close
 * it, and get() after close() is a DisposedError naming the source.
 */
export function closableSource<T extends Source>(src: T): T & Disposable & AsyncDisposable {
  const close = src.close.bind(src);
  const get = src.get.bind(src);
  let closed = false;
  return Object.assign(src, {
    close(): void {
      if (closed) return;
      closed = true;
      close();
    },
    get(index: number) {
      if (closed) return Promise.reject(new DisposedError(`${src.description} was closed`));
      return get(index);
    },
    [disposeSymbol](): void {
      src.close();
    },
    async [asyncDisposeSymbol](): Promise<void> {
      src.close();
    },
  }) as T & Disposable & AsyncDisposable;
}
