// memory-gate.ts — owns the machine's memory as a budget for concurrent points: a point starts when its
// cost fits beside the running ones (or when nothing runs, so a point larger than the budget still runs,
// alone), in the order points asked.

import { freemem } from 'node:os';

/** Share of the machine's free memory (at start) that points may take: the rest stays for everything else. */
export const MEMORY_SHARE = 0.8;

export class MemoryGate {
  private used = 0;
  private running = 0;
  private readonly waiting: Array<{ bytes: number; go: () => void }> = [];

  constructor(readonly budgetBytes: number = Math.floor(freemem() * MEMORY_SHARE)) {}

  /** Wait until `bytes` fit; the returned function gives them back. */
  async acquire(bytes: number): Promise<() => void> {
    if (!this.waiting.length && this.fits(bytes)) this.take(bytes);
    // Otherwise wake() takes the bytes for us before resolving, so no later waiter sees them as free.
    else await new Promise<void>((go) => this.waiting.push({ bytes, go }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.running--;
      this.wake();
    };
  }

  private take(bytes: number): void {
    this.used += bytes;
    this.running++;
  }

  private fits(bytes: number): boolean {
    return this.running === 0 || this.used + bytes <= this.budgetBytes;
  }

  /** First come, first served: a large point is not overtaken forever by small ones. */
  private wake(): void {
    while (this.waiting.length && this.fits(this.waiting[0]!.bytes)) {
      const w = this.waiting.shift()!;
      this.take(w.bytes);
      w.go();
    }
  }
}
