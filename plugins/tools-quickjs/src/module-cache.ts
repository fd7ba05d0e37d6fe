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

  get(memoryLimitBytes: number): Promise<QuickJSWASMModule> {
    const pages = Math.ceil(memoryLimitBytes / PAGE);
    let mod = this.modules.get(pages);
    if (mod) {
      this.modules.delete(pages);
    } else {
      const wasmMemory = new Memory({ initial: BASE_PAGES, maximum: BASE_PAGES + pages });
      mod = newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmMemory: wasmMemory as never }));
    }
    this.modules.set(pages, mod); // most recently used last
    while (this.modules.size > MAX_MODULES) this.modules.delete(this.modules.keys().next().value!);
    return mod;
  }

  /** Forgets the module of this limit: the next job gets a new WebAssembly instance and memory. */
  discard(memoryLimitBytes: number): void {
    this.modules.delete(Math.ceil(memoryLimitBytes / PAGE));
  }
}
