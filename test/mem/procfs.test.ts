// procfs.test.ts — /proc/vmstat, /proc/meminfo and /proc/self/smaps_rollup: the kernel's formats,
// the host-wide counter table behind them, and what a guest's page table adds up to.
import { expect } from 'chai';
import { MADV_DONTNEED, PAGE_SIZE, PROT_READ } from '../../src/mem/constants.ts';
import { formatMeminfo, formatSmapsRollup, formatVmstat, meminfoValues, PROC_MEMINFO, PROC_SMAPS_ROLLUP, PROC_VMSTAT, smapsRollup } from '../../src/mem/procfs.ts';
import { Vmstat, VMSTAT_SLOTS } from '../../src/mem/vmstat.ts';
import { KsmFiles } from '../../src/ksm/sysfs.ts';
import { KsmState } from '../../src/ksm/ksm-state.ts';
import { PhysicalMemory } from '../../src/mem/physical-memory.ts';
import { bareSpace, errnoOf } from '../helpers/bare-space.ts';

function vmstatMap(text: string): Map<string, number> {
  return new Map(text.trimEnd().split('\n').map((l) => {
    const [k, v] = l.split(' ');
    return [k!, Number(v)];
  }));
}

describe('/proc/vmstat', () => {
  it('prints "name value" lines: the free and anon page counts, then every counter in the kernel order', () => {
    const { mem } = bareSpace({ bytes: 1 << 20 });
    const lines = formatVmstat(mem).trimEnd().split('\n');
    expect(lines[0]).to.equal(`nr_free_pages ${mem.freeFrames()}`);
    expect(lines[1]).to.equal('nr_anon_pages 0');
    expect(lines.slice(2).map((l) => l.split(' ')[0])).to.deep.equal([...VMSTAT_SLOTS]);
  });

  it('has the THP lines, reading 0 while nothing counts them', () => {
    const { mem } = bareSpace();
    const v = vmstatMap(formatVmstat(mem));
    for (const name of ['thp_fault_alloc', 'thp_split_page', 'thp_collapse_alloc', 'nr_anon_transparent_hugepages']) expect(v.get(name), name).to.equal(0);
  });

  it('is one table shared by every thread that attaches the same memory', () => {
    const mem = PhysicalMemory.create({ bytes: 1 << 20, numaNodes: 1 });
    const other = PhysicalMemory.attach(mem.handles);
    other.vmstat.add('cow_ksm', 3);
    mem.vmstat.add('cow_ksm');
    expect(vmstatMap(formatVmstat(mem)).get('cow_ksm')).to.equal(4);
  });

  it('counts pswpout and pswpin as pages go to swap and come back', () => {
    const mem = PhysicalMemory.create({ bytes: 64 * PAGE_SIZE, numaNodes: 1, swapBytes: 1 << 20 });
    const { space } = bareSpace({}, mem);
    const addr = space.mmap(128 * PAGE_SIZE);
    for (let p = 0; p < 128; p++) space.memset(addr + p * PAGE_SIZE, p + 1, PAGE_SIZE);
    for (let p = 0; p < 128; p++) space.read(addr + p * PAGE_SIZE, 1);
    const v = vmstatMap(formatVmstat(mem));
    expect(v.get('pswpout')).to.be.greaterThan(64);
    expect(v.get('pswpin')).to.be.greaterThan(0);
    expect(v.get('pswpout')).to.equal(mem.swap!.swappedOut());
  });

  it('refuses a counter buffer too small for its slots', () => {
    expect(() => Vmstat.attach(new SharedArrayBuffer(4))).to.throw(RangeError, /too small/);
  });
});

describe('/proc/meminfo', () => {
  it('prints each line as the kernel\'s show_val_kb: a 16-column label, 8-column value, " kB"', () => {
    const mem = PhysicalMemory.create({ bytes: 256 * PAGE_SIZE, numaNodes: 1, swapBytes: 64 * PAGE_SIZE });
    const text = formatMeminfo(mem);
    expect(text.split('\n')[0]).to.equal(`MemTotal:       ${String(255 * 4).padStart(8)} kB`);
    expect(text).to.match(/^SwapTotal: {11}256 kB$/m);
    expect(text).to.match(/^AnonHugePages: {9}0 kB$/m);
    expect(text).not.to.match(/KsmZeroPages/);
  });

  it('shows memory in use as AnonPages and swap in use as SwapTotal - SwapFree', () => {
    const mem = PhysicalMemory.create({ bytes: 64 * PAGE_SIZE, numaNodes: 1, swapBytes: 1 << 20 });
    const { space } = bareSpace({}, mem);
    const addr = space.mmap(100 * PAGE_SIZE);
    for (let p = 0; p < 100; p++) space.memset(addr + p * PAGE_SIZE, 7, PAGE_SIZE);
    const m = meminfoValues(mem);
    expect(m.AnonPages).to.equal(m.MemTotal! - m.MemFree!);
    expect(m.SwapTotal! - m.SwapFree!).to.equal(mem.swap!.swappedOut() * 4);
  });

  it('prints KsmZeroPages only when asked (UKSM\'s kernel has the line, 6.18\'s KSM does not)', () => {
    const mem = PhysicalMemory.create({ bytes: 256 * PAGE_SIZE, numaNodes: 1 });
    expect(formatMeminfo(mem, { ksmZeroPages: 3 })).to.match(/^KsmZeroPages: {9}12 kB$/m);
  });
});

describe('/proc/self/smaps_rollup', () => {
  it('starts with the [rollup] header padded as show_vma_header_prefix pads it, then the kernel\'s fields', () => {
    const { mem, space, handles } = bareSpace();
    space.mmap(4 * PAGE_SIZE);
    const text = formatSmapsRollup(smapsRollup(handles, mem));
    const [head, ...rest] = text.trimEnd().split('\n');
    expect(head).to.equal('00010000-00014000 ---p 00000000 00:00 0 '.padEnd(72) + ' [rollup]');
    expect(rest.map((l) => l.split(':')[0])).to.deep.equal([
      'Rss', 'Pss', 'Pss_Dirty', 'Pss_Anon', 'Pss_File', 'Pss_Shmem', 'Shared_Clean', 'Shared_Dirty', 'Private_Clean',
      'Private_Dirty', 'Referenced', 'Anonymous', 'KSM', 'LazyFree', 'AnonHugePages', 'ShmemPmdMapped', 'FilePmdMapped',
      'Shared_Hugetlb', 'Private_Hugetlb', 'Swap', 'SwapPss', 'Locked',
    ]);
    expect(rest[0]).to.equal('Rss:                   0 kB');
  });

  it('counts written private pages in Rss, Pss and Anonymous, and pages only read (the zero page) nowhere', () => {
    const { mem, space, handles } = bareSpace();
    const addr = space.mmap(8 * PAGE_SIZE);
    space.memset(addr, 1, 3 * PAGE_SIZE);
    space.read(addr + 4 * PAGE_SIZE, PAGE_SIZE);
    const r = smapsRollup(handles, mem);
    expect(r.Rss).to.equal(3 * PAGE_SIZE);
    expect(r.Pss).to.equal(3 * PAGE_SIZE);
    expect(r.Anonymous).to.equal(3 * PAGE_SIZE);
    expect(r.Private_Dirty).to.equal(3 * PAGE_SIZE);
    expect(r.KSM).to.equal(0);
  });

  it('counts MAP_SHARED pages as shmem: Pss_Shmem, not Anonymous', () => {
    const { mem, space, handles } = bareSpace();
    const addr = space.mmap(2 * PAGE_SIZE, PROT_READ | 2, 0x01 | 0x20);
    space.memset(addr, 1, 2 * PAGE_SIZE);
    const r = smapsRollup(handles, mem);
    expect(r.Rss).to.equal(2 * PAGE_SIZE);
    expect(r.Pss_Shmem).to.equal(2 * PAGE_SIZE);
    expect(r.Anonymous).to.equal(0);
  });

  it('counts swapped pages in Swap and SwapPss, not in Rss', () => {
    const mem = PhysicalMemory.create({ bytes: 64 * PAGE_SIZE, numaNodes: 1, swapBytes: 1 << 20 });
    const { space, handles } = bareSpace({}, mem);
    const addr = space.mmap(100 * PAGE_SIZE);
    for (let p = 0; p < 100; p++) space.memset(addr + p * PAGE_SIZE, 7, PAGE_SIZE);
    const r = smapsRollup(handles, mem);
    expect(r.Swap).to.be.greaterThan(0);
    expect(r.SwapPss).to.equal(r.Swap);
    expect(r.Rss + r.Swap).to.equal(100 * PAGE_SIZE);
    space.madvise(addr, 100 * PAGE_SIZE, MADV_DONTNEED);
    expect(smapsRollup(handles, mem).Swap).to.equal(0);
  });
});

describe('the procfs memory files through the file tree', () => {
  it('gives guests /proc/vmstat, /proc/meminfo and their own /proc/self/smaps_rollup', () => {
    const { mem, space, handles } = bareSpace();
    space.memset(space.mmap(PAGE_SIZE), 1, PAGE_SIZE);
    const files = new KsmFiles(KsmState.create(), mem);
    const caller = { root: false, guestControl: space.ctl, guestSpace: handles };
    expect(files.read(PROC_VMSTAT, caller)).to.equal(formatVmstat(mem));
    expect(files.read(PROC_MEMINFO, caller)).to.equal(formatMeminfo(mem));
    expect(files.read(PROC_SMAPS_ROLLUP, caller)).to.match(/^Rss: +4 kB$/m);
  });

  it('has no /proc/self/smaps_rollup for a caller that is not a guest (ENOENT)', () => {
    const { mem } = bareSpace();
    expect(errnoOf(() => new KsmFiles(KsmState.create(), mem).read(PROC_SMAPS_ROLLUP, { root: true }))).to.equal('ENOENT');
  });

  it('refuses writes: EACCES for a user, EINVAL for root', () => {
    const { mem } = bareSpace();
    const files = new KsmFiles(KsmState.create(), mem);
    expect(errnoOf(() => files.writeSync(PROC_VMSTAT, '1', { root: false }))).to.equal('EACCES');
    expect(errnoOf(() => files.writeSync(PROC_MEMINFO, '1', { root: true }))).to.equal('EINVAL');
  });
});
