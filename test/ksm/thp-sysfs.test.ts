// thp-sysfs.test.ts — /sys/kernel/mm/transparent_hugepage/{enabled,defrag,hpage_pmd_size}: the kernel's
// formats, defaults and errnos (checked on Linux 6.18 here: a bad word is EINVAL, a 0444 file EACCES
// even for root, and a user may not open the 0644 ones for writing).
import { expect } from 'chai';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { KsmFiles, THP_DEFRAG_PATH, THP_ENABLED_PATH, THP_PMD_SIZE_PATH } from '../../src/ksm/sysfs.ts';
import { errnoOf } from '../helpers/bare-space.ts';

const ROOT = { root: true };
const USER = { root: false };

describe('transparent_hugepage sysfs files', () => {
  it('enabled reads "always [madvise] never" by default, the selected word in brackets', () => {
    const f = new KsmFiles(KsmState.create());
    expect(f.read(THP_ENABLED_PATH, USER)).to.equal('always [madvise] never\n');
    f.writeSync(THP_ENABLED_PATH, 'always\n', ROOT);
    expect(f.read(THP_ENABLED_PATH, USER)).to.equal('[always] madvise never\n');
  });

  it('defrag reads "always defer defer+madvise [madvise] never" by default and takes each word', () => {
    const f = new KsmFiles(KsmState.create());
    expect(f.read(THP_DEFRAG_PATH, USER)).to.equal('always defer defer+madvise [madvise] never\n');
    for (const w of ['always', 'defer', 'defer+madvise', 'madvise', 'never']) {
      f.writeSync(THP_DEFRAG_PATH, w, ROOT);
      expect(f.read(THP_DEFRAG_PATH, USER)).to.contain(`[${w}]`);
    }
  });

  it('a word that is not one of the choices is EINVAL, and changes nothing', () => {
    const f = new KsmFiles(KsmState.create());
    expect(errnoOf(() => f.writeSync(THP_ENABLED_PATH, 'sometimes', ROOT))).to.equal('EINVAL');
    expect(errnoOf(() => f.writeSync(THP_DEFRAG_PATH, 'defer+', ROOT))).to.equal('EINVAL');
    expect(f.read(THP_ENABLED_PATH, USER)).to.equal('always [madvise] never\n');
  });

  it('only root writes them: a user gets EACCES', () => {
    const f = new KsmFiles(KsmState.create());
    expect(errnoOf(() => f.writeSync(THP_ENABLED_PATH, 'never', USER))).to.equal('EACCES');
    expect(errnoOf(() => f.writeSync(THP_DEFRAG_PATH, 'never', USER))).to.equal('EACCES');
  });

  it('hpage_pmd_size reads 2097152 and is read-only even for root (EACCES)', () => {
    const f = new KsmFiles(KsmState.create());
    expect(f.read(THP_PMD_SIZE_PATH, USER)).to.equal('2097152\n');
    expect(errnoOf(() => f.writeSync(THP_PMD_SIZE_PATH, '1', ROOT))).to.equal('EACCES');
  });
});
