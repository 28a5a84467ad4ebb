/** Line charts on a canvas: training curves over steps. */

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  /** Thin and faint (raw per-batch values under their smoothed curve). */
  faint?: boolean;
}

export interface ChartOptions {
  /** Fixed y range; else the data's (from 0). */
  yRange?: [number, number];
  xLabel: string;
}

/** Sizes the canvas's pixels to its CSS box at the screen's density; returns the CSS size. */
function fit(canvas: HTMLCanvasElement): { w: number; h: number; ctx: CanvasRenderingContext2D } {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { w, h, ctx };
}

/** A round step for axis ticks: 1, 2 or 5 times a power of ten, about `span / 5`. */
function tickStep(span: number): number {
  const raw = span / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
}

export function drawChart(canvas: HTMLCanvasElement, series: Series[], opts: ChartOptions): void {
  const { w, h, ctx } = fit(canvas);
  const style = getComputedStyle(canvas);
  const fg = style.color;
  const grid = style.getPropertyValue('--grid') || '#ddd';
  ctx.clearRect(0, 0, w, h);
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xMax = Math.max(1, ...all.map(([x]) => x));
  const [yMin, yMax] = opts.yRange ?? [0, Math.max(1e-6, ...all.map(([, y]) => y)) * 1.05];
  const m = { left: 40, right: 8, top: 8, bottom: 30 };
  const px = (x: number) => m.left + (x / xMax) * (w - m.left - m.right);
  const py = (y: number) => h - m.bottom - ((y - yMin) / (yMax - yMin)) * (h - m.top - m.bottom);

  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.strokeStyle = grid;
  ctx.fillStyle = fg;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const ys = tickStep(yMax - yMin);
  for (let y = Math.ceil(yMin / ys) * ys; y <= yMax + 1e-9; y += ys) {
    ctx.beginPath();
    ctx.moveTo(m.left, py(y));
    ctx.lineTo(w - m.right, py(y));
    ctx.stroke();
    ctx.fillText(Number(y.toPrecision(3)).toString(), m.left - 4, py(y));
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const xs = tickStep(xMax);
  for (let x = 0; x <= xMax; x += xs) ctx.fillText(String(x), px(x), h - m.bottom + 4);
  ctx.fillText(opts.xLabel, (m.left + w - m.right) / 2, h - 13);

  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.globalAlpha = s.faint ? 0.3 : 1;
    ctx.lineWidth = s.faint ? 1 : 2;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
    ctx.stroke();
    if (s.points.length === 1) ctx.fillRect(px(s.points[0]![0]) - 2, py(s.points[0]![1]) - 2, 4, 4);
  }
  ctx.globalAlpha = 1;
}

/** The legend of a chart as HTML (colour swatches with names). */
export function legend(el: HTMLElement, series: Series[]): void {
  el.replaceChildren(...series.filter((s) => !s.faint).map((s) => {
    const item = document.createElement('span');
    item.className = 'legend-item';
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = s.color;
    item.append(swatch, s.label);
    return item;
  }));
}
