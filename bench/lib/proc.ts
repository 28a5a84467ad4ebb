/**
 * CPU accounting from /proc: how busy the machine was during a measurement apart from the
 * measured process (and this one), so that disturbed runs are noticed, repeated and reported.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

interface Totals {
  /** Jiffies every CPU spent busy (user, nice, system, irq, softirq, steal). */
  busy: number;
  /** All jiffies, idle included. */
  total: number;
}

function machineTotals(): Totals {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** utime + stime of a process (all its threads), in jiffies; 0 once it has gone. */
function processJiffies(pid: number | 'self'): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function processName(pid: string): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return cmd.slice(0, 6).join(' ').slice(0, 120);
  } catch {
    return `pid ${pid}`;
  }
}

function everyProcess(): Map<string, number> {
  const m = new Map<string, number>();
  for (const pid of readdirSync('/proc')) if (/^\d+$/.test(pid)) m.set(pid, processJiffies(Number(pid)));
  return m;
}

export interface LoadReport {
  /** Cores kept busy by other processes on average (0 = quiet, 1 = one core taken). */
  other_cores: number;
  /** Cores the measured process used on average (its effective thread count). */
  measured_cores: number;
  /** The busiest other process, when one used more than 0.1 cores. */
  top_other: { name: string; cores: number } | null;
}

/**
 * Starts watching; stop() tells the load of everything but `pid` and this process since then
 * (`pid` may be this process, for a process that measures itself).
 */
export function watchLoad(pid: number): { stop(): LoadReport } {
  const itself = pid === process.pid;
  const n = cpus().length;
  const m0 = machineTotals();
  const c0 = processJiffies(pid);
  const s0 = processJiffies('self');
  const p0 = everyProcess();
  return {
    stop() {
      const m1 = machineTotals();
      const c1 = processJiffies(pid);
      const s1 = processJiffies('self');
      const ticks = Math.max(1, (m1.total - m0.total) / n);
      const others = m1.busy - m0.busy - (c1 - c0) - (itself ? 0 : s1 - s0);
      let top: LoadReport['top_other'] = null;
      for (const [p, j1] of everyProcess()) {
        if (Number(p) === pid || Number(p) === process.pid) continue;
        const cores = (j1 - (p0.get(p) ?? j1)) / ticks;
        if (cores > 0.1 && cores > (top?.cores ?? 0)) top = { name: processName(p), cores: round(cores, 2) };
      }
      return { other_cores: round(Math.max(0, others / ticks), 2), measured_cores: round((c1 - c0) / ticks, 2), top_other: top };
    },
  };
}

/** Load of other processes over `ms` milliseconds (before a measurement starts). */
export async function sampleLoad(ms: number): Promise<number> {
  const w = watchLoad(-1);
  await new Promise((r) => setTimeout(r, ms));
  return w.stop().other_cores;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
