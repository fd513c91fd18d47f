// hello.ts — the smallest guest: map a page, write a greeting into it, read it back.
import type { GuestSys } from '../src/guest/index.ts';

export default function main(sys: GuestSys, args: string[]): number {
  const addr = sys.mmap(sys.pageSize);
  const text = `hello from guest ${sys.pid} on node ${sys.node}${args.length ? ` (${args.join(' ')})` : ''}`;
  sys.write(addr, new TextEncoder().encode(text));
  const back = new TextDecoder().decode(sys.read(addr, text.length));
  sys.log(back);
  sys.munmap(addr, sys.pageSize);
  return back === text ? 0 : 1;
}
