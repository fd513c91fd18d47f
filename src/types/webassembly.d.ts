// webassembly.d.ts — the part of the WebAssembly JS API ksmsim uses. Node 20 has all of it, but
// TypeScript only declares it in lib.dom, which a Node project should not pull in.

declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    /** A SharedArrayBuffer when the memory is shared. */
    readonly buffer: SharedArrayBuffer;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  type Imports = Record<string, Record<string, Memory | ((...args: number[]) => number)>>;
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Record<string, unknown>;
  }
}
