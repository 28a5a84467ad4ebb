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

  /** The drawing at size x size, grey in [0, 1], row-major. */
  pixels(): Float32Array {
    const small = new OffscreenCanvas(this.size, this.size);
    const ctx = small.getContext('2d')!;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(this.canvas, 0, 0, this.size, this.size);
    const rgba = ctx.getImageData(0, 0, this.size, this.size).data;
    const out = new Float32Array(this.size * this.size);
    for (let i = 0; i < out.length; i++) out[i] = (rgba[4 * i]! + rgba[4 * i + 1]! + rgba[4 * i + 2]!) / (3 * 255);
    return out;
  }
}
