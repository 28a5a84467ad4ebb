/**
 * The drawing pad: white strokes on black on a large canvas (as Fashion-MNIST's light objects on
 * a dark ground), read back at the model's resolution as grey values in [0, 1].
 */
export class DrawingPad {
  private readonly ctx: CanvasRenderingContext2D;
  private last: { x: number; y: number } | null = null;
  private pending = false;

  constructor(readonly canvas: HTMLCanvasElement, private readonly size: number, private readonly changed: () => void) {
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    this.clear();
    canvas.addEventListener('pointerdown', (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.last = this.at(e);
      this.stroke(this.last, this.last);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.last) return;
      const p = this.at(e);
      this.stroke(this.last, p);
      this.last = p;
    });
    const end = () => (this.last = null);
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  private at(e: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  private stroke(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const ctx = this.ctx;
    ctx.strokeStyle = '#fff';
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    // About two model pixels wide.
    ctx.lineWidth = (2.2 * this.canvas.width) / this.size;
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
    this.notify();
  }

  /** Coalesces changes to one per frame. */
  private notify(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.changed();
    });
  }

  clear(): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.notify();
  }

  /**
   * Replaces the drawing with an image, fitted and centred; `invert` turns dark-on-light pictures
   * into light-on-dark; without `smooth` pixels are enlarged as squares (a test image then reads
   * back as itself).
   */
  setImage(image: CanvasImageSource & { width: number; height: number }, opts: { invert: boolean; smooth: boolean }): void {
    this.clear();
    const { width: W, height: H } = this.canvas;
    const s = Math.min(W / image.width, H / image.height);
    const [w, h] = [image.width * s, image.height * s];
    this.ctx.filter = `grayscale(1)${opts.invert ? ' invert(1)' : ''}`;
    this.ctx.imageSmoothingEnabled = opts.smooth;
    this.ctx.drawImage(image, (W - w) / 2, (H - h) / 2, w, h);
    this.ctx.filter = 'none';
    this.ctx.imageSmoothingEnabled = true;
    this.notify();
  }

  /**
   * The drawing at size x size, grey in [0, 1], row-major. Each value is the mean of the pad's
   * pixels under it (a box filter, which also smooths the strokes): a picture enlarged as squares
   * reads back exactly as itself, where the canvas's own downscaling blurs it.
   */
  pixels(): Float32Array {
    const { width: W, height: H } = this.canvas;
    const rgba = this.ctx.getImageData(0, 0, W, H).data;
    const n = this.size;
    const cols = coverage(W, n);
    const rows = coverage(H, n);
    // Weighted sums of r + g + b in whole numbers, exact: one division per value rounds once.
    const sums = new Float64Array(n * n);
    for (let y = 0; y < H; y++) {
      for (const [oy, wy] of rows[y]!) {
        for (let x = 0; x < W; x++) {
          const grey = rgba[4 * (y * W + x)]! + rgba[4 * (y * W + x) + 1]! + rgba[4 * (y * W + x) + 2]!;
          for (const [ox, wx] of cols[x]!) sums[oy * n + ox]! += wy * wx * grey;
        }
      }
    }
    const out = new Float32Array(n * n);
    for (let i = 0; i < out.length; i++) out[i] = sums[i]! / (3 * 255 * W * H);
    return out;
  }
}

/**
 * For each of `length` pixels in a row, the cells of `n` it overlaps and by how much, measured
 * where a pixel is n long and a cell `length` long (whole numbers): a cell's weights sum to `length`.
 */
function coverage(length: number, n: number): Array<Array<[number, number]>> {
  const out: Array<Array<[number, number]>> = [];
  for (let p = 0; p < length; p++) {
    const parts: Array<[number, number]> = [];
    for (let c = Math.floor((p * n) / length); c < n && c * length < (p + 1) * n; c++) {
      const overlap = Math.min((p + 1) * n, (c + 1) * length) - Math.max(p * n, c * length);
      if (overlap > 0) parts.push([c, overlap]);
    }
    out.push(parts);
  }
  return out;
}
