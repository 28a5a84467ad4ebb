import cliProgress from 'cli-progress';

/**
 * A per-epoch progress bar on stderr (cli-progress) showing loss, accuracy, images/s and ETA.
 * Without a terminal (CI, pipes) it stays silent and the caller prints one line per epoch.
 */
export class EpochProgress {
  private readonly bar: cliProgress.SingleBar | null;

  constructor(label: string, total: number, start: number) {
    if (!process.stderr.isTTY) {
      this.bar = null;
      return;
    }
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label} {bar} {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, start, { loss: '-', acc: '-', ips: '-' });
  }

  update(value: number, loss: number, accuracy: number, imagesPerSecond: number): void {
    this.bar?.update(value, { loss: loss.toFixed(4), acc: `${(accuracy * 100).toFixed(1)}%`, ips: Math.round(imagesPerSecond) });
  }

  stop(): void {
    this.bar?.stop();
  }
}

/** A byte progress bar for downloads (stderr, terminals only). */
export class DownloadProgress {
  private bar: cliProgress.SingleBar | null = null;
  private file = '';

  update(file: string, done: number, total: number | null): void {
    if (!process.stderr.isTTY) return;
    if (file !== this.file || !this.bar) {
      this.stop();
      this.file = file;
      this.bar = new cliProgress.SingleBar(
        { format: `${file} {bar} {percentage}% | {value}/{total} bytes | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total ?? done, done);
    }
    if (total) this.bar.setTotal(total);
    this.bar.update(done);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
    this.file = '';
  }
}
