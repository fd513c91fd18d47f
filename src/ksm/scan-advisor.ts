// scan-advisor.ts — owns the kernel's scan-time advisor (advisor_mode=scan-time): after every full
// scan it retunes pages_to_scan toward advisor_target_scan_time, bounded by ksmd's CPU use.

const EWMA_WEIGHT = 30;
const KSM_ADVISOR_MIN_CPU = 10;

export interface AdvisorKnobs {
  pagesToScan: number;
  targetScanTime: number; // seconds
  maxCpu: number; // percent
  maxPagesToScan: number;
}

export class ScanAdvisor {
  private startMs = 0;
  private cpuMs = 0;
  private lastScanTime = 0;
  private change = 0;

  reset(): void {
    this.startMs = 0;
    this.cpuMs = 0;
    this.lastScanTime = 0;
    this.change = 0;
  }

  startScan(nowMs: number): void {
    this.startMs = nowMs;
  }

  /**
   * scan_time_advisor(): integer arithmetic as in mm/ksm.c. `cpuMs` is ksmd's CPU time so far.
   * Returns the new pages_to_scan.
   */
  stopScan(nowMs: number, cpuMs: number, k: AdvisorKnobs): number {
    let scanTime = Math.floor((nowMs - this.startMs) / 1000);
    if (!scanTime) scanTime = 1;
    const cpuDiffMs = Math.max(0, Math.floor(cpuMs - this.cpuMs));
    let cpuPercent = Math.floor((cpuDiffMs * 100) / (scanTime * 1000));
    if (!cpuPercent) cpuPercent = 1;
    const last = this.lastScanTime || scanTime;
    let factor = Math.floor((k.targetScanTime * 100) / scanTime);
    if (!factor) factor = 1;
    let change = Math.floor((scanTime * 100) / last);
    if (!change) change = 1;
    change = Math.floor(((100 - EWMA_WEIGHT) * this.change + EWMA_WEIGHT * change) / 100);
    let pages = Math.floor((k.pagesToScan * 100) / factor);
    pages = Math.floor((pages * change) / 100);
    let perPageCost = Math.floor(k.pagesToScan / cpuPercent);
    if (!perPageCost) perPageCost = 1;
    pages = Math.min(pages, perPageCost * k.maxCpu);
    pages = Math.max(pages, perPageCost * KSM_ADVISOR_MIN_CPU);
    pages = Math.min(pages, k.maxPagesToScan);
    this.change = change;
    this.lastScanTime = scanTime;
    this.cpuMs = cpuMs;
    return pages;
  }
}
