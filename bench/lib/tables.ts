/**
 * Markdown tables from a run's records (the lines of its .jsonl): results with min-max, the
 * load seen and % of the measured fp32 peak, stride/peer ratios, T1, micro-benchmarks.
 * Used by run.ts at the end of a run and by report.ts on committed results.
 */
import { WORKLOADS, type Workload } from './workloads.js';

type Rec = Record<string, unknown>;

interface Summary {
  config: string;
  system: string;
  threads: number | null;
  median: number;
  min: number;
  max: number;
  n: number;
  disturbed: number;
  other: number;
  used: number;
}

const PEERS = ['PyTorch', 'onnxruntime-node', 'TF.js wasm', 'TF.js cpu', 'ConvNetJS'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** 3 significant digits with thousands separators (12,300; 45.6; 0.123). */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1000) return Math.round(Number(x.toPrecision(3))).toLocaleString('en-US');
  return Number(x.toPrecision(3)).toString();
}

function summaries(records: Rec[], w: Workload): Summary[] {
  const by = new Map<string, Rec[]>();
  for (const r of records) {
    if (r.type !== 'sample' || r.workload !== w.id || !r.accepted) continue;
    by.set(r.config as string, [...(by.get(r.config as string) ?? []), r]);
  }
  return [...by.entries()].map(([config, rs]) => {
    const rates = rs.map((r) => r.rate as number);
    return {
      config, system: rs[0]!.system as string, threads: rs[0]!.threads as number | null,
      median: median(rates), min: Math.min(...rates), max: Math.max(...rates), n: rs.length,
      disturbed: rs.filter((r) => r.disturbed).length,
      other: median(rs.map((r) => r.other_cores as number)), used: median(rs.map((r) => r.measured_cores as number)),
    };
  });
}

/**
 * fp32 peak per thread count: the thread count times the best FMA rate per CPU-second of one
 * core (over ISAs and repetitions), so that a peak measured while other processes took turns
 * on the cores is not understated; `wall` is the best rate per wall-clock second seen.
 */
function peaks(records: Rec[]): Map<number, { gflops: number; wall: number; isa: string; other: number }> {
  const m = new Map<number, { gflops: number; wall: number; isa: string; other: number }>();
  for (const r of records) {
    if (r.type !== 'peak' || typeof r.gflops_per_core !== 'number') continue;
    const t = r.threads as number;
    const p = m.get(t);
    const wall = Math.max(p?.wall ?? 0, r.gflops as number);
    if (r.gflops_per_core * t > (p?.gflops ?? 0)) m.set(t, { gflops: r.gflops_per_core * t, wall, isa: r.isa as string, other: r.other_cores as number });
    else p!.wall = wall;
  }
  return m;
}

/** The threads a configuration computes on: those it was given, else those it was seen to use. */
function threadsOf(s: { threads: number | null; used: number }, cores: number): number {
  return s.threads ?? Math.min(cores, Math.max(1, Math.round(s.used)));
}

export function render(records: Rec[], opts: { micro?: boolean } = {}): string {
  const run = records.find((r) => r.type === 'run') ?? {};
  const machine = (run.machine ?? {}) as Rec;
  const cores = (machine.cores as number) ?? 1;
  const peak = peaks(records);
  const out: string[] = [];
  const samples = records.filter((r) => r.type === 'sample' && r.accepted);
  const loads = samples.map((r) => r.other_cores as number);
  const tops = new Map<string, number>();
  for (const r of samples) {
    const t = r.top_other as { name: string } | null;
    if (t) tops.set(t.name, (tops.get(t.name) ?? 0) + 1);
  }
  const topList = [...tops.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([n, c]) => `\`${n}\` (${c} samples)`);

  out.push(`Measured ${String(run.date ?? '').slice(0, 10)} on ${String(machine.cpu)} (${cores} cores, ${String(machine.memory_gib)} GiB, ${String(machine.os)}, Node ${String(machine.node)}), stride ${String(machine.git)}${machine.git_dirty ? ' with uncommitted changes' : ''}${run.quick ? '; QUICK mode (short windows: indicative only)' : ''}.`);
  const plan = run.plan as { warmup: number; rewarm?: number; window: number; reps: number } | undefined;
  if (plan) out.push(`Method: ${plan.warmup} s warm-up, then ${plan.reps} interleaved repetitions of ≥ ${plan.window} s each per system${plan.rewarm ? `, each after ${plan.rewarm} s of unmeasured steps` : ''}; median (min-max). A repetition during which other processes kept more than ${String(run.disturbed_above_cores)} cores busy was run again if the machine had been quiet when it began (a load that was already there is lasting: it is kept and flagged); the load columns are medians over the kept repetitions: the cores the measured process got, and those other processes used.`);
  // Recorded by the run (older runs have none): how the systems' setups differed.
  const setups = (run.setups ?? {}) as Record<string, string>;
  const measured = WORKLOADS.filter((w) => setups[w.id] && records.some((r) => r.workload === w.id));
  for (const note of new Set(measured.map((w) => setups[w.id]!))) out.push(`Setup: ${measured.filter((w) => setups[w.id] === note).map((w) => w.title).join(', ')}: ${note}.`);
  const peakLine = [...peak.entries()].sort((a, b) => a[0] - b[0]).map(([t, p]) => `${fmt(p.gflops)} GFLOP/s on ${t} thread${t > 1 ? 's' : ''} (${p.isa}; per CPU-second of its threads, others using ${p.other} cores meanwhile; best per wall-clock second ${fmt(p.wall)})`);
  if (peakLine.length) out.push(`fp32 FMA peak measured by bench/peak/fma.c: ${peakLine.join(', ')}.`);
  if (loads.length) {
    out.push(`Load of other processes during the kept samples: median ${fmt(median(loads))} cores, max ${fmt(Math.max(...loads))}; ${samples.filter((r) => r.disturbed).length} of ${samples.length} were still disturbed after the retries${topList.length ? `; busiest other process: ${topList.join(', ')}` : ''}.`);
  }

  out.push('', '| workload | system | threads | median | min-max | % of peak | cores used | others\' load |', '|---|---|---|---|---|---|---|---|');
  const best = new Map<string, Map<string, Summary>>();
  for (const w of WORKLOADS) {
    const ss = summaries(records, w);
    const bestHere = new Map<string, Summary>();
    for (const s of ss) {
      const t = threadsOf(s, cores);
      const pk = peak.get(t)?.gflops ?? peak.get(1)?.gflops;
      const pct = pk ? `${fmt((100 * s.median * w.flops_per_item) / 1e9 / pk)}%` : '-';
      const thr = s.threads === null ? `${t} (not settable)` : String(s.threads);
      out.push(`| ${w.title} | ${s.system} | ${thr} | ${fmt(s.median)} ${w.unit} | ${fmt(s.min)}-${fmt(s.max)} | ${pct} | ${s.used} | ${s.other}${s.disturbed ? ` (${s.disturbed} disturbed)` : ''} |`);
      const key = s.system.startsWith('stride') ? s.config : s.system;
      if (s.median > (bestHere.get(key)?.median ?? 0)) bestHere.set(key, s);
    }
    best.set(w.id, bestHere);
  }

  const strideConfigs = [...new Set(samples.filter((r) => String(r.system).startsWith('stride')).map((r) => r.config as string))];
  if (strideConfigs.length) {
    out.push('', 'stride / peer: stride\'s median over the peer\'s best thread setting (> 1: stride is faster).', '');
    out.push(`| workload | stride | ${PEERS.join(' | ')} |`, `|---|---|${PEERS.map(() => '---').join('|')}|`);
    for (const w of WORKLOADS) {
      const b = best.get(w.id)!;
      for (const c of strideConfigs) {
        const s = b.get(c);
        if (!s) continue;
        const cells = PEERS.map((p) => {
          const q = b.get(p);
          return q ? `${fmt(s.median / q.median)}x (${q.threads ?? threadsOf(q, cores)}t)` : '-';
        });
        out.push(`| ${w.title} | ${s.system} (${s.threads}t) | ${cells.join(' | ')} |`);
      }
    }
  }

  const t1 = records.filter((r) => r.type === 't1');
  if (t1.length) {
    // Runs before 2026-12-07 kept the learning rate constant and recorded no schedule.
    const schedule = t1[0]!.lr_schedule as { step_size: number; gamma: number } | undefined;
    const lr = schedule ? `, times ${schedule.gamma} every ${schedule.step_size} epochs` : '';
    out.push('', `T1: training time to ${String(t1[0]!.target)} test accuracy on the full Fashion-MNIST (W1's model, SGD lr 0.01${lr}, momentum 0.9, batch 64, reshuffled each epoch; test evaluations not timed).`, '');
    // A point below the target too, read off the recorded epochs: it says something when the
    // recipe plateaus just under the target.
    const lower = Math.round((Number(t1[0]!.target) - 0.01) * 100) / 100;
    out.push(`| system | threads | time | epochs | last test accuracy | best (epoch) | time to ${lower} | others' load |`, '|---|---|---|---|---|---|---|---|');
    for (const r of t1) {
      const eps = r.epochs as { epoch: number; seconds: number; test_accuracy: number }[];
      const last = eps[eps.length - 1];
      const best = eps.reduce<(typeof eps)[number] | undefined>((b, e) => (!b || e.test_accuracy > b.test_accuracy ? e : b), undefined);
      const near = eps.find((e) => e.test_accuracy >= lower);
      out.push(
        `| ${String(r.system)} | ${String(r.threads)} | ${r.reached ? `${fmt(r.seconds as number)} s` : `not reached in ${fmt(last?.seconds ?? 0)} s`} | ${last?.epoch ?? 0} | ` +
        `${last ? last.test_accuracy.toFixed(4) : '-'} | ${best ? `${best.test_accuracy.toFixed(4)} (${best.epoch})` : '-'} | ${near ? `${fmt(near.seconds)} s (epoch ${near.epoch})` : '-'} | ${String(r.other_cores)} |`,
      );
    }
  }

  const notes = new Set<string>();
  for (const r of records) {
    if (r.type === 'note') for (const n of r.notes as string[]) notes.add(`${String(r.config)}: ${n}`);
    if (r.type === 'unavailable') notes.add(`${String(r.config)}: unavailable — ${String(r.reason)}`);
    if (r.type === 'skip') {
      const what = r.workload === 't1' ? `T1${r.config === '*' ? '' : ` ${String(r.config)}`}` : `${String(r.config)} ${String(r.workload)}`;
      notes.add(`${what}: ${String(r.reason)}`);
    }
    if (r.type === 'worker') {
      const i = r.info as Rec;
      if (String(r.system) === 'TF.js wasm') notes.add(`${String(r.config)}: asked for ${String(i.threads_requested)} threads, uses ${String(i.threads_used)} (setThreadsCount is ignored in Node)`);
    }
  }
  if (notes.size) out.push('', 'Notes:', ...[...notes].map((n) => `- ${n}`));

  const micro = records.filter((r) => r.type === 'micro');
  if (micro.length && opts.micro !== false) {
    out.push('', 'Per-primitive micro-benchmarks (bench/micro.ts): median of 3 windows; GB/s counts each operand once; % of peak for the convolutions and matrix products only.', '');
    out.push('| stride | primitive | shape | ms/call | GFLOP/s | % of peak | GB/s | others\' load |', '|---|---|---|---|---|---|---|---|');
    for (const r of micro) {
      const pk = peak.get(r.threads as number)?.gflops;
      const g = r.gflops as number;
      out.push(`| ${String(r.config)} | ${String(r.name)} | ${String(r.shape)} | ${fmt((r.seconds_per_call as number) * 1e3)} | ${g ? fmt(g) : '-'} | ${g && pk && /conv|matmul/.test(String(r.name)) ? `${fmt((100 * g) / pk)}%` : '-'} | ${fmt(r.gbs as number)} | ${String(r.other_cores)} |`);
    }
  }
  return out.join('\n') + '\n';
}
