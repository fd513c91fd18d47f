// thp-sysfs.test.ts — /sys/kernel/mm/transparent_hugepage/{enabled,defrag,hpage_pmd_size}: the kernel's
// formats, defaults and errnos (checked on Linux 6.18 here: a bad word is EINVAL, a 0444 file EACCES
// even for root, and a user may not open the 0644 ones for writing).
import { expect } from 'chai';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { KHUGEPAGED_DIR, KsmFiles, THP_DEFRAG_PATH, THP_ENABLED_PATH, THP_PMD_SIZE_PATH } from '../../src/ksm/sysfs.ts';
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

  it('khugepaged/pages_to_scan and scan_sleep_millisecs default to 4096 and 10000, take any unsigned int (pages_to_scan not 0)', () => {
    const f = new KsmFiles(KsmState.create());
    expect(f.read(KHUGEPAGED_DIR + 'pages_to_scan', USER)).to.equal('4096\n');
    expect(f.read(KHUGEPAGED_DIR + 'scan_sleep_millisecs', USER)).to.equal('10000\n');
    f.writeSync(KHUGEPAGED_DIR + 'scan_sleep_millisecs', '0', ROOT);
    expect(f.read(KHUGEPAGED_DIR + 'scan_sleep_millisecs', USER)).to.equal('0\n');
    expect(errnoOf(() => f.writeSync(KHUGEPAGED_DIR + 'pages_to_scan', '0', ROOT))).to.equal('EINVAL');
    expect(errnoOf(() => f.writeSync(KHUGEPAGED_DIR + 'pages_to_scan', '-1', ROOT))).to.equal('EINVAL');
    expect(errnoOf(() => f.writeSync(KHUGEPAGED_DIR + 'scan_sleep_millisecs', '4294967296', ROOT))).to.equal('EINVAL');
    expect(errnoOf(() => f.writeSync(KHUGEPAGED_DIR + 'pages_to_scan', '512', USER))).to.equal('EACCES');
  });

  it('khugepaged/full_scans and pages_collapsed read 0 at boot and are read-only (EACCES); the other khugepaged files are not emulated (ENOENT)', () => {
    const f = new KsmFiles(KsmState.create());
    expect(f.read(KHUGEPAGED_DIR + 'full_scans', USER)).to.equal('0\n');
    expect(f.read(KHUGEPAGED_DIR + 'pages_collapsed', USER)).to.equal('0\n');
    expect(errnoOf(() => f.writeSync(KHUGEPAGED_DIR + 'full_scans', '1', ROOT))).to.equal('EACCES');
    expect(errnoOf(() => f.read(KHUGEPAGED_DIR + 'max_ptes_shared', USER))).to.equal('ENOENT');
  });
});
