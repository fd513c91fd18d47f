// sysfs.ts — owns the file view of KSM: /sys/kernel/mm/ksm/*, transparent_hugepage/{enabled,defrag,hpage_pmd_size} and
// /proc/self/ksm_stat, ksm_merging_pages — formats, permissions, parsing and errnos as the kernel has
// them — and the routing of the memory files of procfs (/proc/vmstat, /proc/meminfo,
// /proc/self/smaps_rollup), whose formats procfs.ts owns.

import { ERRNO, ErrnoError } from '../mem/errno.ts';
import { PAGE_SIZE } from '../mem/constants.ts';
import type { PhysicalMemory } from '../mem/physical-memory.ts';
import { PROC_MEMINFO, PROC_SMAPS_ROLLUP, PROC_VMSTAT, formatMeminfo, formatSmapsRollup, formatVmstat, smapsRollup } from '../mem/procfs.ts';
import { HPAGE_PAGES, THP_DEFRAG_MODES } from '../mem/thp.ts';
import {
  CTL_KSM_ZERO_PAGES, CTL_MERGEABLE_VMAS, CTL_MERGE_ANY, CTL_MERGING_PAGES, CTL_RMAP_ITEMS, type GuestSpaceHandles,
} from '../mem/guest-control.ts';
import { kstrtobool, kstrtointErrno, kstrtoul, kstrtoulErrno, kstrtouint, strictStrtoul, sysfsStreq, type Parsed, type ParsedErrno } from './knob-parse.ts';
import {
  ADVISOR_NONE, ADVISOR_SCAN_TIME, COUNTERS, KNOB_DEFAULTS, KNOBS, KsmState, REQ_SET_MAX_PAGE_SHARING,
  REQ_SET_MERGE_ACROSS_NODES, REQ_SET_RUN, THP_MODES, type CounterName, type KnobName, type SlotName,
} from './ksm-state.ts';

export const KSM_DIR = '/sys/kernel/mm/ksm/';
export const THP_DIR = '/sys/kernel/mm/transparent_hugepage/';
export const THP_ENABLED_PATH = THP_DIR + 'enabled';
export const THP_DEFRAG_PATH = THP_DIR + 'defrag';
/** hpage_pmd_size: 0444, the PMD huge page size in bytes. */
export const THP_PMD_SIZE_PATH = THP_DIR + 'hpage_pmd_size';

/** transparent_hugepage/khugepaged/: the files emulated (the max_ptes_*, defrag and alloc_sleep ones are not). */
export const KHUGEPAGED_DIR = THP_DIR + 'khugepaged/';
/** Which setting each khugepaged file shows; the two counters are published by the ksmd thread. */
const KHUGEPAGED_FILES: ReadonlyMap<string, { readonly slot: SlotName; readonly writable: boolean }> = new Map([
  ['pages_to_scan', { slot: 'khugepaged_pages_to_scan', writable: true }],
  ['scan_sleep_millisecs', { slot: 'khugepaged_scan_sleep_millisecs', writable: true }],
  ['full_scans', { slot: 'khugepaged_full_scans', writable: false }],
  ['pages_collapsed', { slot: 'khugepaged_pages_collapsed', writable: false }],
] as const);

/** The THP choice files: path → the host setting and its words, in the order the file lists them. */
const THP_CHOICE_FILES: ReadonlyMap<string, { readonly slot: 'thp_enabled' | 'thp_defrag'; readonly words: readonly string[] }> = new Map([
  [THP_ENABLED_PATH, { slot: 'thp_enabled', words: THP_MODES }],
  [THP_DEFRAG_PATH, { slot: 'thp_defrag', words: THP_DEFRAG_MODES }],
] as const);
export const PROC_KSM_STAT = '/proc/self/ksm_stat';
export const PROC_KSM_MERGING_PAGES = '/proc/self/ksm_merging_pages';

/** The kernel's sizeof(struct ksm_rmap_item) on 64-bit, used in general_profit. */
export const RMAP_ITEM_BYTES = 64;

/** Who is asking: root or not, and (for /proc/self) which guest's control words. */
export interface Caller {
  readonly root: boolean;
  readonly guestControl?: Int32Array;
  /** The calling guest's address space (for /proc/self/smaps_rollup). */
  readonly guestSpace?: GuestSpaceHandles;
}

/** The read-only procfs files with no write method: EACCES for a user, EINVAL for root (measured on ksm_stat). */
const READ_ONLY_PROC = [PROC_KSM_STAT, PROC_KSM_MERGING_PAGES, PROC_VMSTAT, PROC_MEMINFO, PROC_SMAPS_ROLLUP];

/** A knob write that only ksmd can finish: the request to send once validation passed. */
export interface KsmdRequest {
  readonly op: number;
  readonly arg: number;
  readonly knob: KnobName;
}

const COUNTER_FILES: readonly string[] = [...COUNTERS.filter((c) => c !== 'rmap_items'), 'pages_volatile', 'general_profit'];

/** The counter files (read-only numbers) under /sys/kernel/mm/ksm, as the kernel names them. */
export function ksmCounterFileNames(): string[] {
  return [...COUNTER_FILES].sort();
}

export function ksmFileNames(): string[] {
  return [...KNOBS, ...COUNTER_FILES].sort();
}

export class KsmFiles {
  readonly state: KsmState;
  /** The host's memory, for the procfs memory files (absent: those files do not exist). */
  readonly memory: PhysicalMemory | undefined;

  constructor(state: KsmState, memory?: PhysicalMemory) {
    this.state = state;
    this.memory = memory;
  }

  // ───────────── reading ─────────────

  read(path: string, caller: Caller): string {
    if (path.startsWith(KSM_DIR)) return this.readKsm(path.slice(KSM_DIR.length));
    const choice = THP_CHOICE_FILES.get(path);
    if (choice) {
      const cur = this.state.get(choice.slot);
      return choice.words.map((m, i) => (i === cur ? `[${m}]` : m)).join(' ') + '\n';
    }
    if (path === THP_PMD_SIZE_PATH) return `${HPAGE_PAGES * PAGE_SIZE}\n`;
    const khuge = path.startsWith(KHUGEPAGED_DIR) ? KHUGEPAGED_FILES.get(path.slice(KHUGEPAGED_DIR.length)) : undefined;
    if (khuge) return `${this.state.get(khuge.slot)}\n`;
    if (path === PROC_KSM_STAT || path === PROC_KSM_MERGING_PAGES) {
      const ctl = caller.guestControl;
      if (!ctl) throw new ErrnoError('ENOENT', 'open', `${path} exists only for a guest`);
      return path === PROC_KSM_STAT ? formatKsmStat(ctl) : `${Atomics.load(ctl, CTL_MERGING_PAGES)}\n`;
    }
    const mem = this.memory;
    if (mem && path === PROC_VMSTAT) return formatVmstat(mem);
    if (mem && path === PROC_MEMINFO) return formatMeminfo(mem);
    if (mem && path === PROC_SMAPS_ROLLUP) {
      if (!caller.guestSpace) throw new ErrnoError('ENOENT', 'open', `${path} exists only for a guest`);
      return formatSmapsRollup(smapsRollup(caller.guestSpace, mem));
    }
    throw new ErrnoError('ENOENT', 'open', path);
  }

  /** Every file of /sys/kernel/mm/ksm as name → value (no trailing newline), for reports. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of ksmFileNames()) out[name] = this.readKsm(name).trimEnd();
    if (this.state.get('kernel_compat')) out.max_kernel_pages = this.readKsm('max_kernel_pages').trimEnd();
    return out;
  }

  /** The numeric counters, for samplers and tests. */
  counters(): Record<CounterName | 'pages_volatile' | 'general_profit', number> {
    const s = this.state;
    const out = {} as Record<CounterName | 'pages_volatile' | 'general_profit', number>;
    for (const c of COUNTERS) out[c] = s.get(c);
    out.pages_volatile = pagesVolatile(s);
    out.general_profit = generalProfit(s);
    return out;
  }

  private readKsm(name: string): string {
    const s = this.state;
    if (name === 'advisor_mode') {
      return s.get('advisor_mode') === ADVISOR_SCAN_TIME ? 'none [scan-time]\n' : '[none] scan-time\n';
    }
    if (name === 'pages_volatile') return `${pagesVolatile(s)}\n`;
    // 2.6.32 only (--kernel-compat 2.6.32): max_kernel_pages_show, "%lu\n". Elsewhere ENOENT below.
    if (name === 'max_kernel_pages' && s.get('kernel_compat')) return `${s.get('max_kernel_pages')}\n`;
    if (name === 'general_profit') return `${generalProfit(s)}\n`;
    if ((KNOBS as readonly string[]).includes(name) || (COUNTER_FILES as readonly string[]).includes(name)) {
      return `${s.get(name as KnobName | CounterName)}\n`;
    }
    throw new ErrnoError('ENOENT', 'open', KSM_DIR + name);
  }

  // ───────────── writing ─────────────

  /** Synchronous write (guests, CLI): blocks while ksmd carries out run=2 and the EBUSY checks. */
  writeSync(path: string, text: string, caller: Caller): void {
    const req = this.prepareWrite(path, text, caller);
    if (req) finishRequest(req, this.state.ksmdAlive() ? this.state.requestSync(req.op, req.arg) : applyWithoutKsmd(this.state, req));
  }

  /** The same write without blocking the caller's event loop (the host). */
  async write(path: string, text: string, caller: Caller): Promise<void> {
    const req = this.prepareWrite(path, text, caller);
    if (req) finishRequest(req, this.state.ksmdAlive() ? await this.state.request(req.op, req.arg) : applyWithoutKsmd(this.state, req));
  }

  /**
   * Check permissions and parse; store what needs no ksmd and return undefined, or return the
   * request ksmd must carry out. Throws ErrnoError with the kernel's errno.
   */
  prepareWrite(path: string, text: string, caller: Caller): KsmdRequest | undefined {
    if (READ_ONLY_PROC.includes(path) && (this.memory || path === PROC_KSM_STAT || path === PROC_KSM_MERGING_PAGES)) {
      // Files with no write method: EACCES for a user, EINVAL for root (measured on ksm_stat).
      throw new ErrnoError(caller.root ? 'EINVAL' : 'EACCES', 'write', path);
    }
    const choice = THP_CHOICE_FILES.get(path);
    if (choice) {
      // enabled_store / defrag_store: 0644, sysfs_streq against each word, else -EINVAL.
      if (!caller.root) throw new ErrnoError('EACCES', 'open', path);
      if (text.length === 0) return undefined; // sysfs_kf_write: a zero-length write stores nothing
      const mode = choice.words.findIndex((m) => sysfsStreq(text, m));
      if (mode < 0) throw new ErrnoError('EINVAL', 'write', `${path}: ${JSON.stringify(text)}`);
      this.state.set(choice.slot, mode);
      return undefined;
    }
    if (path === THP_PMD_SIZE_PATH) throw new ErrnoError('EACCES', 'open', `${path} is read-only`);
    const khuge = path.startsWith(KHUGEPAGED_DIR) ? KHUGEPAGED_FILES.get(path.slice(KHUGEPAGED_DIR.length)) : undefined;
    if (khuge) {
      // pages_to_scan_store / scan_sleep_millisecs_store: kstrtouint, any error (and pages 0) -EINVAL.
      if (!khuge.writable) throw new ErrnoError('EACCES', 'open', `${path} is read-only`);
      if (!caller.root) throw new ErrnoError('EACCES', 'open', path);
      if (text.length === 0) return undefined;
      const v = kstrtouint(text);
      if (v === undefined || (khuge.slot === 'khugepaged_pages_to_scan' && v === 0)) throw new ErrnoError('EINVAL', 'write', `${path}: ${JSON.stringify(text)}`);
      this.state.set(khuge.slot, v);
      this.state.wake();
      return undefined;
    }
    if (!path.startsWith(KSM_DIR)) throw new ErrnoError('ENOENT', 'open', path);
    const name = path.slice(KSM_DIR.length);
    if ((COUNTER_FILES as readonly string[]).includes(name)) throw new ErrnoError('EACCES', 'open', `${path} is read-only`);
    if (name === 'max_kernel_pages' && this.state.get('kernel_compat')) {
      if (!caller.root) throw new ErrnoError('EACCES', 'open', `${path}: only root may write KSM knobs`);
      if (text.length === 0) return undefined;
      // max_kernel_pages_store: strict_strtoul(buf, 10) or -EINVAL; takes effect at ksmd's next merge.
      const v = strictStrtoul(text);
      if (v === undefined) throw new ErrnoError('EINVAL', 'write', `${path}: invalid value ${JSON.stringify(text)}`);
      this.state.set('max_kernel_pages', v);
      return undefined;
    }
    if (!(KNOBS as readonly string[]).includes(name)) throw new ErrnoError('ENOENT', 'open', path);
    if (!caller.root) throw new ErrnoError('EACCES', 'open', `${path}: only root may write KSM knobs`);
    // sysfs_kf_write returns 0 for a zero-length write without calling the store (measured: ok).
    if (text.length === 0) return undefined;
    return this.storeKnob(name as KnobName, text);
  }

  private storeKnob(knob: KnobName, text: string): KsmdRequest | undefined {
    const s = this.state;
    const bad = (): never => {
      throw new ErrnoError('EINVAL', 'write', `${KSM_DIR}${knob}: invalid value ${JSON.stringify(text)}`);
    };
    const need = (v: Parsed): number => (v === undefined ? bad() : v);
    // merge_across_nodes_store and max_page_sharing_store return kstrto*'s error as it is (ERANGE on overflow).
    const needErrno = (v: ParsedErrno): number => {
      if (v === 'ERANGE') throw new ErrnoError('ERANGE', 'write', `${KSM_DIR}${knob}: ${JSON.stringify(text)} is out of range`);
      return v === 'EINVAL' ? bad() : v;
    };
    switch (knob) {
      case 'run': {
        const v = need(kstrtouint(text));
        if (v > 2) bad();
        if (v === 2 || s.ksmdAlive()) return { op: REQ_SET_RUN, arg: v, knob };
        s.set('run', v);
        break;
      }
      case 'pages_to_scan':
        if (s.get('advisor_mode') !== ADVISOR_NONE) bad();
        s.set(knob, need(kstrtouint(text)));
        break;
      case 'sleep_millisecs': {
        // sleep_millisecs_store wakes ksm_iter_wait, and ksmd's sleep ends early only if the value
        // it sleeps with changed (measured: the knob-wake fidelity scenario). Other knobs do not
        // cut the sleep short.
        const v = need(kstrtouint(text));
        const changed = v !== s.get(knob);
        s.set(knob, v);
        if (changed) s.wake();
        return undefined;
      }
      case 'stable_node_chains_prune_millisecs':
        s.set(knob, need(kstrtouint(text)));
        break;
      case 'merge_across_nodes': {
        const v = needErrno(kstrtoulErrno(text));
        if (v > 1) bad();
        if (v === s.get(knob)) return undefined;
        return { op: REQ_SET_MERGE_ACROSS_NODES, arg: v, knob };
      }
      case 'max_page_sharing': {
        const v = needErrno(kstrtointErrno(text));
        if (v < 2) bad();
        if (v === s.get(knob)) return undefined;
        return { op: REQ_SET_MAX_PAGE_SHARING, arg: v, knob };
      }
      case 'use_zero_pages':
      case 'smart_scan':
        s.set(knob, need(kstrtobool(text)));
        break;
      case 'advisor_mode': {
        let mode: number;
        if (sysfsStreq(text, 'scan-time')) mode = ADVISOR_SCAN_TIME;
        else if (sysfsStreq(text, 'none')) mode = ADVISOR_NONE;
        else return bad();
        if (mode !== s.get('advisor_mode')) {
          s.set('advisor_mode', mode);
          // set_advisor_defaults(): a mode change resets pages_to_scan.
          s.set('pages_to_scan', mode === ADVISOR_NONE ? KNOB_DEFAULTS.pages_to_scan : s.get('advisor_min_pages_to_scan'));
        }
        break;
      }
      case 'advisor_target_scan_time': {
        const v = need(kstrtoul(text));
        if (v < 1) bad();
        s.set(knob, v);
        break;
      }
      case 'advisor_max_cpu':
      case 'advisor_min_pages_to_scan':
      case 'advisor_max_pages_to_scan':
        s.set(knob, need(kstrtoul(text)));
        break;
    }
    return undefined;
  }
}

/**
 * Without a live ksmd (a bare machine, or tests of the memory layer) nothing can be merged, so the
 * requests are carried out here with the same rules; returns 0 or a negative errno like ksmd.
 */
function applyWithoutKsmd(s: KsmState, req: KsmdRequest): number {
  if (req.op === REQ_SET_RUN) {
    s.set('run', req.arg);
    if (req.arg === 2) s.set('full_scans', 0);
    return 0;
  }
  if (s.get('pages_shared') !== 0) return -ERRNO.EBUSY;
  s.set(req.knob, req.arg);
  return 0;
}

function finishRequest(req: KsmdRequest, result: number): void {
  if (result < 0) {
    throw ErrnoError.fromNumber(-result, 'write', `${KSM_DIR}${req.knob}`);
  }
}

export function pagesVolatile(s: KsmState): number {
  const v = s.get('rmap_items') - s.get('pages_shared') - s.get('pages_sharing') - s.get('pages_unshared');
  return v > 0 ? v : 0;
}

export function generalProfit(s: KsmState): number {
  return (s.get('pages_sharing') + s.get('ksm_zero_pages')) * PAGE_SIZE - s.get('rmap_items') * RMAP_ITEM_BYTES;
}

export function formatKsmStat(ctl: Int32Array): string {
  const rmap = Atomics.load(ctl, CTL_RMAP_ITEMS);
  const zero = Atomics.load(ctl, CTL_KSM_ZERO_PAGES);
  const merging = Atomics.load(ctl, CTL_MERGING_PAGES);
  const profit = (merging + zero) * PAGE_SIZE - rmap * RMAP_ITEM_BYTES;
  return (
    `ksm_rmap_items ${rmap}\n` +
    `ksm_zero_pages ${zero}\n` +
    `ksm_merging_pages ${merging}\n` +
    `ksm_process_profit ${profit}\n` +
    `ksm_merge_any: ${Atomics.load(ctl, CTL_MERGE_ANY) ? 'yes' : 'no'}\n` +
    // Measured on the kernel: "some area is VM_MERGEABLE now" (no after MADV_UNMERGEABLE, even with run=0).
    `ksm_mergeable: ${Atomics.load(ctl, CTL_MERGEABLE_VMAS) > 0 ? 'yes' : 'no'}\n`
  );
}
