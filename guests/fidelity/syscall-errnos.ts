// syscall-errnos.ts — fidelity scenario: the errnos of mmap, munmap, mprotect and madvise around
// KSM (gaps, alignment, bad advice, lengths), and that the mapped part of a range with a gap is
// still advised.
import {
  MADV_MERGEABLE, MADV_UNMERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE, type GuestSys,
} from '../../src/guest/index.ts';
import { check, checkErrno, ksmStat, type ScenarioMeta } from '../../src/fidelity/checkpoint.ts';

export const scenario: ScenarioMeta = {
  description: 'errnos of mmap/munmap/mprotect/madvise around MADV_MERGEABLE: gaps, alignment, advice, lengths',
  knobs: { run: '0' },
};

export default function main(sys: GuestSys): void {
  const P = sys.pageSize;
  // Three pages with the middle one unmapped: a gap.
  const a = sys.mmap(3 * P);
  sys.munmap(a + P, P);
  checkErrno(sys, 'madvise.gap', () => sys.madvise(a, 3 * P, MADV_MERGEABLE));
  check(sys, 'madvise.gap.first_page_advised', ksmStat(sys).ksm_mergeable ?? 'missing');
  // Before any other mmap: the emulator may place a new mapping in this hole (first fit), the kernel
  // elsewhere (top-down); where mmap puts things is not part of the contract.
  checkErrno(sys, 'mprotect.gap', () => sys.mprotect(a, 3 * P, PROT_READ));
  checkErrno(sys, 'read.unmapped', () => sys.read(a + P, 1));
  checkErrno(sys, 'madvise.unaligned', () => sys.madvise(a + 1, P, MADV_MERGEABLE));
  checkErrno(sys, 'madvise.bad_advice', () => sys.madvise(a, P, 999));
  checkErrno(sys, 'madvise.length0', () => sys.madvise(a, 0, MADV_MERGEABLE));
  checkErrno(sys, 'madvise.length_unaligned', () => sys.madvise(a, 100, MADV_MERGEABLE));
  checkErrno(sys, 'madvise.negative_length', () => sys.madvise(a, -P, MADV_MERGEABLE));
  checkErrno(sys, 'madvise.unmergeable_twice', () => { sys.madvise(a, P, MADV_UNMERGEABLE); sys.madvise(a, P, MADV_UNMERGEABLE); });
  const none = sys.mmap(2 * P, PROT_NONE);
  checkErrno(sys, 'madvise.prot_none', () => sys.madvise(none, 2 * P, MADV_MERGEABLE));
  checkErrno(sys, 'read.prot_none', () => sys.read(none, 1));
  const ro = sys.mmap(P, PROT_READ);
  checkErrno(sys, 'write.prot_read', () => sys.memset(ro, 1, 1));
  checkErrno(sys, 'mprotect.unaligned', () => sys.mprotect(a + 1, P, PROT_READ));
  checkErrno(sys, 'mprotect.bad_prot', () => sys.mprotect(a, P, 0x40));
  checkErrno(sys, 'munmap.unaligned', () => sys.munmap(a + 1, P));
  checkErrno(sys, 'munmap.length0', () => sys.munmap(a, 0));
  checkErrno(sys, 'munmap.hole', () => sys.munmap(a + P, P));
  checkErrno(sys, 'mmap.length0', () => sys.mmap(0));
  checkErrno(sys, 'mmap.shared_and_private', () => sys.mmap(P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS));
  checkErrno(sys, 'mmap.neither', () => sys.mmap(P, PROT_READ | PROT_WRITE, MAP_ANONYMOUS));
  checkErrno(sys, 'mmap.not_anonymous', () => sys.mmap(P, PROT_READ | PROT_WRITE, MAP_PRIVATE));
}
