/** The orchestrator's side of the worker protocol (see serve.ts): spawn, request, kill. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { MARK } from './serve.js';

export type Reply = Record<string, unknown> & { error?: string; unsupported?: string };

export class Worker {
  private readonly child: ChildProcess;
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void; onProgress?: (r: Reply) => void } | null = null;
  private readonly log: string[] = [];
  private exited: string | null = null;
  readonly ready: Promise<Reply>;

  constructor(readonly name: string, cmd: string, args: string[], env: Record<string, string>) {
    this.child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.ready = new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.keep(line));
    this.child.on('error', (e) => this.fail(`${cmd}: ${e.message}`));
    this.child.on('exit', (code, signal) => this.fail(`exited with ${signal ?? `code ${code}`}`));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The last lines the worker printed that were not replies (for error reports). */
  tail(n = 5): string {
    return this.log.slice(-n).join(' | ');
  }

  private keep(line: string): void {
    this.log.push(line.slice(0, 300));
    if (this.log.length > 50) this.log.shift();
  }

  private onLine(line: string): void {
    if (!line.startsWith(MARK)) return this.keep(line);
    const msg = JSON.parse(line.slice(MARK.length)) as Reply;
    if ('progress' in msg) return this.waiting?.onProgress?.(msg);
    const w = this.waiting;
    this.waiting = null;
    w?.resolve(msg);
  }

  private fail(why: string): void {
    this.exited ??= why;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(new Error(`${this.name} ${why}${this.log.length ? `: ${this.tail()}` : ''}`));
  }

  /** Sends one request; rejects if the worker dies or takes longer than `timeoutS` (it is then killed). */
  request(msg: object, timeoutS: number, onProgress?: (r: Reply) => void): Promise<Reply> {
    if (this.exited) return Promise.reject(new Error(`${this.name} ${this.exited}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        this.kill();
        reject(new TimeoutError(`${this.name} took longer than ${Math.round(timeoutS)} s`));
      }, timeoutS * 1000);
      const done = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      this.waiting = { resolve: done(resolve), reject: done(reject), onProgress };
      this.child.stdin!.write(JSON.stringify(msg) + '\n');
    });
  }

  kill(): void {
    this.exited ??= 'was stopped';
    this.child.kill('SIGKILL');
  }

  close(): void {
    this.exited ??= 'was closed';
    this.child.stdin!.end();
  }
}

export class TimeoutError extends Error {}
