import { newQuickJSWASMModule, newVariant, RELEASE_SYNC, type QuickJSWASMModule } from 'quickjs-emscripten';

const PAGE = 64 * 1024;
/** Linear memory a QuickJS module starts with (its data, C stack and first heap). */
const BASE_PAGES = 256;
const MAX_MODULES = 4;

// The WebAssembly global exists in every Node.js; this project's `lib` setting just does not declare it.
const { Memory } = (
  globalThis as unknown as { WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => object } }
).WebAssembly;

/**
 * QuickJS WASM modules for one worker, one per memory limit. Each module gets its own WebAssembly.Memory whose
 * `maximum` is the base plus the limit: the prebuilt QuickJS counts only single allocations against
 * `setMemoryLimit` (emscripten reports no usable malloc sizes), so the memory ceiling is what really stops a guest
 * that allocates many small things. Growth past it makes malloc fail and QuickJS throw "out of memory".
 */
export class ModuleCache {
  private readonly modules = new Map<number, Promise<QuickJSWASMModule>>();
  /** The loaded module of each limit still in `modules`. */
  private readonly loaded = new Map<number, QuickJSWASMModule>();

  get(memoryLimitBytes: number): Promise<QuickJSWASMModule> {
    const pages = Math.ceil(memoryLimitBytes / PAGE);
    let mod = this.modules.get(pages);
    if (mod) {
      this.modules.delete(pages);
    } else {
      const wasmMemory = new Memory({ initial: BASE_PAGES, maximum: BASE_PAGES + pages });
      const loading = newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmMemory: wasmMemory as never })).then(
        withNativeUtf8,
      );
      void loading.then(
        (loaded) => {
          if (this.modules.get(pages) === loading) this.loaded.set(pages, loaded);
        },
        () => undefined,
      );
      mod = loading;
    }
    this.modules.set(pages, mod); // most recently used last
    while (this.modules.size > MAX_MODULES) this.forget(this.modules.keys().next().value!);
    return mod;
  }

  /** Forgets the module of this limit: the next job gets a new WebAssembly instance and memory. */
  discard(memoryLimitBytes: number): void {
    this.forget(Math.ceil(memoryLimitBytes / PAGE));
  }

  /** Whether `mod` is still the module of this limit (not discarded, nor evicted). */
  holds(memoryLimitBytes: number, mod: QuickJSWASMModule): boolean {
    return this.loaded.get(Math.ceil(memoryLimitBytes / PAGE)) === mod;
  }

  private forget(pages: number): void {
    this.modules.delete(pages);
    this.loaded.delete(pages);
  }
}

/**
 * Whether `mod`'s memory has grown past what it started with. While it has not, everything alive in it fits in the
 * base pages, and a call can still grow it by its whole memory limit.
 */
export function memoryGrown(mod: QuickJSWASMModule): boolean {
  return (mod as unknown as { module: StringCopy }).module.HEAPU8.length > BASE_PAGES * PAGE;
}

/** The parts of the emscripten module quickjs-emscripten copies strings into WASM memory with. */
interface StringCopy {
  HEAPU8: Uint8Array;
  lengthBytesUTF8(text: string): number;
  stringToUTF8(text: string, pointer: number, maxBytes: number): number;
}

const encoder = new TextEncoder();

/**
 * Every string handed to QuickJS (the prelude, the tool's source, its input) is measured and copied into WASM memory
 * by emscripten's JavaScript loops, a character at a time: about a tenth of a sandbox's time. Node's own UTF-8
 * encoder writes the same bytes for any well-formed string; a string with a lone surrogate keeps emscripten's way,
 * which encodes the surrogate itself where the encoder would write U+FFFD.
 */
function withNativeUtf8(mod: QuickJSWASMModule): QuickJSWASMModule {
  const emscripten = (mod as unknown as { module: StringCopy }).module;
  const { lengthBytesUTF8, stringToUTF8 } = emscripten;
  const wellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();
  emscripten.lengthBytesUTF8 = (text) =>
    wellFormed(text) ? Buffer.byteLength(text, 'utf8') : lengthBytesUTF8.call(emscripten, text);
  emscripten.stringToUTF8 = (text, pointer, maxBytes) => {
    if (!wellFormed(text)) return stringToUTF8.call(emscripten, text, pointer, maxBytes);
    const heap = emscripten.HEAPU8; // read each time: growing the memory replaces it
    const { written } = encoder.encodeInto(text, heap.subarray(pointer, pointer + maxBytes - 1));
    heap[pointer + written] = 0;
    return written;
  };
  return mod;
}
