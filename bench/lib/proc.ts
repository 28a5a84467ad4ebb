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

interface ProcStat {
  ppid: number;
  /** utime + stime of all its threads, in jiffies. */
  jiffies: number;
}

/** A process's parent and CPU time; null once it has gone. */
function processStat(pid: number | 'self'): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), jiffies: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
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

function everyProcess(): Map<number, ProcStat> {
  const m = new Map<number, ProcStat>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const st = processStat(Number(pid));
    if (st) m.set(Number(pid), st);
  }
  return m;
}

/** pid and every process below it (a browser a worker drives counts as the worker's work). */
function processTree(pid: number, table: Map<number, ProcStat>): Set<number> {
  const tree = new Set<number>([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, st] of table) {
      if (!tree.has(p) && tree.has(st.ppid)) {
        tree.add(p);
        grew = true;
      }
    }
  }
  return tree;
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
 * Starts watching; stop() tells the load of everything but `pid` with its descendants and this
 * process since then (`pid` may be this process, for a process that measures itself).
 */
export function watchLoad(pid: number): { stop(): LoadReport } {
  const n = cpus().length;
  const m0 = machineTotals();
  const p0 = everyProcess();
  return {
    stop() {
      const m1 = machineTotals();
      const p1 = everyProcess();
      const ticks = Math.max(1, (m1.total - m0.total) / n);
      const measured = new Set([...processTree(pid, p0), ...processTree(pid, p1)]);
      const used = (p: number) => (p1.get(p)?.jiffies ?? p0.get(p)?.jiffies ?? 0) - (p0.get(p)?.jiffies ?? 0);
      let mine = 0;
      for (const p of measured) mine += used(p);
      const self = process.pid === pid || measured.has(process.pid) ? 0 : used(process.pid);
      const others = m1.busy - m0.busy - mine - self;
      let top: LoadReport['top_other'] = null;
      for (const p of p1.keys()) {
        if (measured.has(p) || p === process.pid) continue;
        const cores = used(p) / ticks;
        if (cores > 0.1 && cores > (top?.cores ?? 0)) top = { name: processName(String(p)), cores: round(cores, 2) };
      }
      return { other_cores: round(Math.max(0, others / ticks), 2), measured_cores: round(mine / ticks, 2), top_other: top };
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
