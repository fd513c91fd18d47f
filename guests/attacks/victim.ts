// victim.ts — the side-channel lab's victim (docs/security.md). probe: it holds, for each trial, one
// secret page drawn from K candidates. covert: it is the sender, and each round writes, per bit, the
// agreed page (1) or noise (0). zero: each round it holds an all-zero page (1) or noise (0). It logs
// what it holds (SECRETS / BITS, for the lab's score, never to the attacker) and READY, then holds
// its pages until the lab stops it. Under engine=dksm (probe only) its secret pages are read-only and
// advised once filled, so they are in DKSM's table before the attacker advises its candidates.
// args: mode=probe|covert|zero seed=N trials=T candidates=K bits=B period=P base=S engine=ksm|dksm|uksm
import { type GuestSys } from '../../src/guest/index.ts';
import { Prng } from '../../src/platform/prng.ts';
import { CONTENT, PAGE, ScanClock, advise, area, contentKey, dropPage, engineArg, fillPages, intArg, parseArgs, report } from './attack-kit.ts';

export default async function main(sys: GuestSys, argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const mode = args.get('mode') ?? 'probe';
  const seed = intArg(args, 'seed', 1);
  const trials = intArg(args, 'trials', 20);
  const engine = engineArg(args);
  const prng = new Prng(seed ^ 0x5ec7e7);
  if (mode === 'probe') {
    const k = intArg(args, 'candidates', 8);
    const secrets = Array.from({ length: trials }, () => prng.below(k));
    const addr = area(sys, trials);
    fillPages(sys, addr, 0, trials, (t) => contentKey(seed, CONTENT.candidate, t, secrets[t]!));
    advise(sys, engine, addr, trials);
    report(sys, 'SECRETS', secrets);
    sys.log('READY');
    for (;;) await sys.sleep(20);
  }
  // covert and zero: rounds of `bits` pages, each round `period` full scans long from full_scans `base`.
  const bits = mode === 'zero' ? 1 : intArg(args, 'bits', 16);
  const period = intArg(args, 'period', 4);
  const base = intArg(args, 'base', 4);
  const sent = Array.from({ length: trials * bits }, () => prng.below(2));
  const clock = new ScanClock(sys, engine);
  const addr = area(sys, trials * bits);
  advise(sys, engine, addr, trials * bits);
  report(sys, 'BITS', sent);
  sys.log('READY');
  for (let r = 0; r < trials; r++) {
    await clock.until(base + r * period);
    // The last round's pages go: a zero page left behind would answer the next round's probe.
    if (r > 0) for (let b = 0; b < bits; b++) dropPage(sys, addr, (r - 1) * bits + b);
    for (let b = 0; b < bits; b++) {
      const page = r * bits + b;
      if (sent[page] && mode === 'zero') sys.memset(addr + page * PAGE, 0, PAGE);
      else fillPages(sys, addr, page, 1, () => contentKey(seed, sent[page] ? CONTENT.bit : CONTENT.noise, page));
    }
  }
  for (;;) await sys.sleep(20);
}
