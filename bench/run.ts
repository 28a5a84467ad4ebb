/**
 * stride's benchmark harness (issue 4): measures every stride backend and the peers (PyTorch,
 * onnxruntime-node, TF.js wasm and cpu, ConvNetJS) on the same workloads in the same run,
 * interleaved, with the load of other processes watched during each measurement.
 *
 *   node --import tsx bench/run.ts [--quick] [--only SYSTEM,...] [--workloads ID,...] [--t1] [--no-micro] [--tag NAME]
 *
 * Writes bench/results/<date>-<host>[-quick][-NAME].jsonl (every sample) and .md (the tables)
 * and prints the tables; --tag keeps a partial run from replacing the day's full one. `make
 * bench` / `make bench QUICK=1` install what is missing first.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sampleLoad, watchLoad, type LoadReport } from './lib/proc.js';
import { loadStrideBackends } from './lib/stride_backends.js';
import { render } from './lib/tables.js';
import { TimeoutError, Worker, type Reply } from './lib/workerproc.js';
import { T1, WORKLOADS, type Workload } from './lib/workloads.js';
import { CHROMIUM } from '../tools/browser.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const CACHE = join(HERE, '.cache');
const PYTHON = '/usr/bin/python3';
const TSX = ['--import', 'tsx'];

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const list = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]!.split(',') : null);
const QUICK = flag('--quick');

/**
 * How long things run. Full: 12 repetitions of ≥ 5 s of steady state per system after a 5 s
 * warm-up, up to 3 retries of a disturbed one. Many short interleaved windows rather than three
 * of 20 s: these shared machines change speed by up to 2x for minutes at a time (memory-bound
 * work most), and three windows let one system meet a fast spell and another a slow one (W1's
 * native two-thread windows of 2026-12-07 ran 22,100, 23,900 and 34,400 images/s). Each median
 * now spans the same stretch of the machine's weather. Each window follows `rewarm` seconds of
 * unmeasured steps: a system idle while the others ran starts slow (LeNet-5 on stride, two
 * threads: its first 200 steps after 40 s idle took 2.1-2.6 ms against 1.7, V8 having compacted
 * the heap in the meantime). QUICK keeps the method but shortens every window so that the whole
 * run fits in ~10 minutes on two cores.
 */
const PLAN = QUICK
  ? { warmup: 1, rewarm: 0.3, window: 1.5, reps: 3, retries: 1, quietWait: 3, iterCap: 8, microWindow: 0.3, peakSeconds: 1, t1: flag('--t1') }
  : { warmup: 5, rewarm: 1, window: 5, reps: 12, retries: 3, quietWait: 30, iterCap: 120, microWindow: 2, peakSeconds: 3, t1: !flag('--no-t1') };
/** A measurement is disturbed when other processes kept more than this many cores busy. */
const DISTURBED = 0.3;
/** Training-time budget per system for T1 (PyTorch needs ~1-2 minutes). */
const T1_MAX_SECONDS = Number(process.env.T1_MAX_SECONDS ?? 1800);

/** The reference backend computes on the calling thread only. */
const SINGLE_THREADED = new Set(['reference']);

interface Config {
  id: string;
  system: string;
  /** Threads asked for; null when the system cannot be told (and reports what it used). */
  threads: number | null;
  cmd: string;
  args: string[];
  env: Record<string, string>;
  stride?: boolean;
}

function threadEnv(n: number): Record<string, string> {
  // OpenBLAS (under PyTorch) and OpenMP size their own pools unless told.
  return { OMP_NUM_THREADS: String(n), OPENBLAS_NUM_THREADS: String(n), STRIDE_THREADS: String(n) };
}

async function configs(): Promise<{ list: Config[]; unavailable: { system: string; reason: string }[] }> {
  const node = process.execPath;
  const out: Config[] = [];
  const unavailable: { system: string; reason: string }[] = [];
  for (const { name: b, available, status } of await loadStrideBackends()) {
    if (!available) {
      unavailable.push({ system: `stride ${b}`, reason: String(status.reason) });
      continue;
    }
    for (const n of SINGLE_THREADED.has(b) ? [1] : [1, 2]) {
      out.push({ id: `stride-${b}-${n}`, system: `stride ${b}`, threads: n, cmd: node, args: [...TSX, join(HERE, 'workers/stride.ts'), '--backend', b], env: threadEnv(n), stride: true });
    }
  }
  if (existsSync(CHROMIUM)) {
    for (const n of [1, 2]) {
      out.push({ id: `stride-wasm-chromium-${n}`, system: 'stride wasm (Chromium)', threads: n, cmd: node, args: [...TSX, join(HERE, 'workers/chromium.ts'), '--threads', String(n)], env: {} });
    }
  } else {
    unavailable.push({ system: 'stride wasm (Chromium)', reason: `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)` });
  }
  for (const n of [1, 2]) {
    out.push({ id: `pytorch-${n}`, system: 'PyTorch', threads: n, cmd: PYTHON, args: [join(HERE, 'py/torch_worker.py'), '--threads', String(n)], env: threadEnv(n) });
  }
  for (const n of [1, 2]) {
    out.push({ id: `onnxruntime-${n}`, system: 'onnxruntime-node', threads: n, cmd: node, args: [...TSX, join(HERE, 'workers/ort.ts'), '--threads', String(n), '--models', join(CACHE, 'onnx')], env: threadEnv(n) });
  }
  out.push({ id: 'tfjs-wasm', system: 'TF.js wasm', threads: null, cmd: node, args: [...TSX, join(HERE, 'workers/tfjs.ts'), '--backend', 'wasm', '--threads', '2'], env: {} });
  out.push({ id: 'tfjs-cpu', system: 'TF.js cpu', threads: 1, cmd: node, args: [...TSX, join(HERE, 'workers/tfjs.ts'), '--backend', 'cpu', '--threads', '1'], env: {} });
  out.push({ id: 'convnetjs', system: 'ConvNetJS', threads: 1, cmd: node, args: [...TSX, join(HERE, 'workers/convnetjs.ts')], env: {} });
  const only = list('--only');
  return { list: only ? out.filter((c) => only.some((o) => c.id.startsWith(o))) : out, unavailable };
}

// ---- results ----

const date = new Date().toISOString().slice(0, 10);
const tag = list('--tag')?.[0];
const base = join(HERE, 'results', `${date}-${hostname()}${QUICK ? '-quick' : ''}${tag ? `-${tag}` : ''}`);
mkdirSync(dirname(base), { recursive: true });
writeFileSync(`${base}.jsonl`, '');
const records: Record<string, unknown>[] = [];
function record(r: Record<string, unknown>): void {
  records.push(r);
  appendFileSync(`${base}.jsonl`, JSON.stringify(r) + '\n');
}
const say = (s: string) => console.error(s);

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '';
  }
}

function machine(): Record<string, unknown> {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = /^flags\s*:(.*)$/m.exec(info)?.[1]?.split(' ') ?? [];
  return {
    cpu: cpus()[0]?.model, cores: cpus().length, memory_gib: Math.round(totalmem() / 2 ** 30),
    isa: ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_vnni'].filter((f) => flags.includes(f)),
    os: sh('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']), kernel: sh('uname', ['-r']), node: process.version,
    python: sh(PYTHON, ['--version']), blas: sh('readlink', ['-f', '/usr/lib/x86_64-linux-gnu/libblas.so.3']),
    git: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']), git_dirty: sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']) !== '',
  };
}

// ---- fp32 peak ----

/** Builds bench/peak/fma.c once per ISA the CPU has and runs it 3 times on 1 and on all cores. */
async function measurePeak(isa: string[]): Promise<void> {
  const variants = [
    { name: 'avx2+fma', need: ['avx2', 'fma'], flags: ['-mavx2', '-mfma'] },
    { name: 'avx512f', need: ['avx512f'], flags: ['-mavx512f'] },
  ].filter((v) => v.need.every((f) => isa.includes(f)));
  mkdirSync(CACHE, { recursive: true });
  for (const v of variants) {
    const exe = join(CACHE, `fma-${v.name.replace('+', '-')}`);
    try {
      execFileSync('gcc', ['-O2', ...v.flags, join(HERE, 'peak/fma.c'), '-o', exe, '-lpthread'], { stdio: 'pipe' });
    } catch (e) {
      record({ type: 'peak', isa: v.name, error: `gcc failed: ${String((e as Error).message).slice(0, 200)}` });
      continue;
    }
    for (const threads of [1, cpus().length]) {
      for (let rep = 0; rep < 3; rep++) {
        const w = watchLoad(-1);
        const r = JSON.parse(execFileSync(exe, [String(threads), String(PLAN.peakSeconds)], { encoding: 'utf8' })) as { gflops: number; gflops_per_cpu_second: number; seconds: number; cpu_seconds: number };
        const load = w.stop();
        // watchLoad counted the FMA program among the others; it reports its own CPU time.
        const used = r.cpu_seconds / r.seconds;
        record({
          type: 'peak', isa: v.name, threads, gflops: r.gflops, gflops_per_core: r.gflops_per_cpu_second,
          measured_cores: Math.round(used * 100) / 100, other_cores: Math.max(0, Math.round((load.other_cores - used) * 100) / 100),
        });
      }
    }
  }
}

// ---- workloads ----

interface Live {
  cfg: Config;
  worker: Worker | null;
  dead: string | null;
}

async function start(l: Live): Promise<Worker | null> {
  if (l.worker) return l.worker;
  if (l.dead) return null;
  const w = new Worker(l.cfg.id, l.cfg.cmd, l.cfg.args, l.cfg.env);
  try {
    const hello = await Promise.race([w.ready, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${l.cfg.id} did not start within 120 s`)), 120_000))]);
    record({ type: 'worker', config: l.cfg.id, system: l.cfg.system, threads: l.cfg.threads, info: hello.info });
    l.worker = w;
    return w;
  } catch (e) {
    w.kill();
    l.dead = (e as Error).message;
    record({ type: 'unavailable', config: l.cfg.id, system: l.cfg.system, reason: l.dead });
    say(`  ${l.cfg.id}: unavailable (${l.dead})`);
    return null;
  }
}

/** Set when the machine stayed busy through a whole wait: later waits only glance, until it is seen quiet again. */
let busySince: number | null = null;

/**
 * Waits up to PLAN.quietWait seconds for other processes to use less than DISTURBED cores and
 * returns the load seen last. Under a lasting load (another job holding a core for an hour)
 * waiting every time would only stretch the run, so then it only takes the 0.3 s sample, and
 * waits fully again every 10 minutes.
 */
async function waitForQuiet(): Promise<number> {
  const full = busySince === null || Date.now() - busySince > 600_000;
  const until = Date.now() + (full ? PLAN.quietWait * 1000 : 0);
  let load = await sampleLoad(300);
  while (load > DISTURBED && Date.now() < until) load = await sampleLoad(1000);
  if (load <= DISTURBED) busySince = null;
  else if (full) busySince = Date.now();
  return load;
}

async function prepare(l: Live, w: Workload): Promise<number | null> {
  const worker = await start(l);
  if (!worker) return null;
  try {
    const r = await worker.request({ op: 'prepare', id: w.id, params: w.params }, 300);
    if (r.unsupported) {
      record({ type: 'skip', config: l.cfg.id, workload: w.id, reason: r.unsupported });
      return null;
    }
    if (r.error) throw new Error(r.error);
    if ((r.notes as string[]).length) record({ type: 'note', config: l.cfg.id, workload: w.id, notes: r.notes });
    // The warm-up runs at least one step, so its limit is also the longest step this plan measures.
    const warm = await worker.request({ op: 'warmup', id: w.id, seconds: PLAN.warmup }, PLAN.warmup + PLAN.iterCap);
    if (warm.error) throw new Error(warm.error);
    return warm.iter_s as number;
  } catch (e) {
    const reason = e instanceof TimeoutError
      ? `one iteration takes longer than ${PLAN.iterCap} s${QUICK ? ' (QUICK mode)' : ''}`
      : (e as Error).message;
    record({ type: 'skip', config: l.cfg.id, workload: w.id, reason });
    say(`  ${l.cfg.id} ${w.id}: skipped (${reason})`);
    // A killed or crashed worker is started again for the next workload.
    l.worker?.kill();
    l.worker = null;
    return null;
  }
}

async function measure(l: Live, w: Workload, rep: number, iterS: number): Promise<void> {
  for (let attempt = 0; attempt <= PLAN.retries; attempt++) {
    const before = await waitForQuiet();
    const worker = l.worker!;
    const watch = watchLoad(worker.pid);
    let r: Reply;
    try {
      await worker.request({ op: 'warmup', id: w.id, seconds: PLAN.rewarm }, PLAN.rewarm + 3 * iterS + 120);
      r = await worker.request({ op: 'measure', id: w.id, seconds: PLAN.window }, PLAN.window + 3 * iterS + 120);
    } catch (e) {
      record({ type: 'skip', config: l.cfg.id, workload: w.id, reason: (e as Error).message });
      l.worker?.kill();
      l.worker = null;
      return;
    }
    const load: LoadReport = watch.stop();
    const disturbed = load.other_cores > DISTURBED;
    // A repetition is run again only when the machine was quiet when it started: a disturbance
    // that was there before it began is a lasting load, which a retry would measure again.
    const retry = disturbed && attempt < PLAN.retries && before <= DISTURBED;
    const rate = (r.items as number) / (r.seconds as number);
    record({
      type: 'sample', config: l.cfg.id, system: l.cfg.system, threads: l.cfg.threads, workload: w.id, unit: w.unit, rep, attempt,
      rate, items: r.items, seconds: r.seconds, iters: r.iters, load_before: before, ...load, disturbed, accepted: !retry,
    });
    say(`  ${l.cfg.id.padEnd(20)} ${w.id.padEnd(9)} rep ${rep + 1}: ${rate.toPrecision(4)} ${w.unit}  (others ${load.other_cores} cores, it used ${load.measured_cores})${disturbed ? (retry ? ' disturbed, again' : ' disturbed, kept') : ''}`);
    if (!retry) return;
  }
}

async function runWorkload(w: Workload, live: Live[]): Promise<void> {
  say(`\n${w.title}`);
  const ready: { l: Live; iterS: number }[] = [];
  for (const l of live) {
    const iterS = await prepare(l, w);
    if (iterS !== null) ready.push({ l, iterS });
  }
  // Interleaved: each repetition visits every system, starting one further along each time.
  for (let rep = 0; rep < PLAN.reps; rep++) {
    for (let i = 0; i < ready.length; i++) {
      const { l, iterS } = ready[(i + rep) % ready.length]!;
      if (l.worker) await measure(l, w, rep, iterS);
    }
  }
  for (const { l } of ready) await l.worker?.request({ op: 'release', id: w.id }, 60).catch(() => undefined);
}

// ---- T1 ----

async function runT1(live: Live[]): Promise<void> {
  const subjects = live.filter((l) => l.cfg.id === 'pytorch-1' || l.cfg.stride);
  say(`\nT1 time to ${T1.target} test accuracy (training time, test evaluations excluded; at most ${T1_MAX_SECONDS} s each)`);
  for (const l of subjects) {
    const worker = await start(l);
    if (!worker) continue;
    const watch = watchLoad(worker.pid);
    try {
      const r = await worker.request({ op: 't1', params: { ...T1, max_seconds: T1_MAX_SECONDS } }, T1_MAX_SECONDS * 3 + 600, (p) => {
        const e = p.progress as { epoch: number; seconds: number; test_accuracy: number };
        say(`  ${l.cfg.id} epoch ${e.epoch}: ${e.test_accuracy.toFixed(4)} after ${e.seconds.toFixed(1)} s`);
      });
      const epochs = r.epochs as { epoch: number; seconds: number; test_accuracy: number }[];
      const hit = epochs.find((e) => e.test_accuracy >= T1.target) ?? null;
      record({
        type: 't1', config: l.cfg.id, system: l.cfg.system, threads: l.cfg.threads, target: T1.target, lr_schedule: { step_size: T1.lr_step_size, gamma: T1.lr_gamma },
        reached: hit !== null, seconds: hit?.seconds ?? null, epochs, ...watch.stop(),
      });
    } catch (e) {
      record({ type: 'skip', config: l.cfg.id, workload: 't1', reason: (e as Error).message });
    }
  }
}

// ---- micro-benchmarks ----

async function runMicro(cfgs: Config[]): Promise<void> {
  say('\nper-primitive micro-benchmarks');
  for (const c of cfgs.filter((x) => x.stride)) {
    const backend = c.args[c.args.indexOf('--backend') + 1]!;
    const out = execFileSync(process.execPath, [...TSX, join(HERE, 'micro.ts'), '--backend', backend, '--seconds', String(PLAN.microWindow), '--json'], {
      encoding: 'utf8', env: { ...process.env, ...c.env }, maxBuffer: 64 << 20,
    });
    for (const line of out.split('\n').filter(Boolean)) record({ type: 'micro', config: c.id, threads: c.threads, ...JSON.parse(line) });
    say(`  ${c.id}: done`);
  }
}

// ---- main ----

const t0 = Date.now();
const m = machine();
record({ type: 'run', date: new Date().toISOString(), host: hostname(), quick: QUICK, tag: tag ?? null, plan: PLAN, disturbed_above_cores: DISTURBED, machine: m, setups: Object.fromEntries(WORKLOADS.filter((w) => w.note).map((w) => [w.id, w.note])) });
say(`stride bench ${QUICK ? '(QUICK) ' : ''}on ${String(m.cpu)}, ${String(m.cores)} cores; results in ${base}.jsonl`);
say(`load of other processes now: ${await sampleLoad(1000)} cores`);

say('\nfp32 FMA peak');
await measurePeak(m.isa as string[]);

const { list: cfgs, unavailable } = await configs();
for (const u of unavailable) record({ type: 'unavailable', config: u.system, system: u.system, reason: u.reason });
if (cfgs.some((c) => c.system === 'onnxruntime-node') && !existsSync(join(CACHE, 'onnx/resnet18.onnx'))) {
  say('\nexporting the ONNX models from PyTorch into bench/.cache/onnx');
  try {
    execFileSync(PYTHON, [join(HERE, 'py/export_onnx.py'), join(CACHE, 'onnx')], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    say(`  export failed: ${String((e as Error).message).slice(0, 300)}`);
  }
}
const live: Live[] = cfgs.map((cfg) => ({ cfg, worker: null, dead: null }));
const only = list('--workloads');
for (const w of WORKLOADS.filter((x) => !only || only.includes(x.id))) await runWorkload(w, live);
if (PLAN.t1) await runT1(live);
else record({ type: 'skip', config: '*', workload: 't1', reason: QUICK ? 'skipped in QUICK mode (--t1 runs it)' : 'skipped (--no-t1)' });
for (const l of live) l.worker?.close();
if (!flag('--no-micro')) await runMicro(cfgs);

record({ type: 'end', minutes: (Date.now() - t0) / 60000 });
const md = render(records);
writeFileSync(`${base}.md`, md);
console.log(md);
say(`\n${((Date.now() - t0) / 60000).toFixed(1)} min; wrote ${base}.jsonl and ${base}.md`);
