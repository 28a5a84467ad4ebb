/**
 * Whether ops record the graph. Scopes accept sync and async functions; an async one keeps its
 * setting until its promise settles (JS has no per-task context to scope it more tightly).
 *
 * Open scopes are kept in the order they opened and the newest one still open decides. A scope
 * that closes is taken out wherever it is, so async scopes that overlap and settle out of order
 * (Promise.all of two no_grad calls) leave the mode as it was before either opened.
 */
interface Scope {
  on: boolean;
}

/** The mode outside every scope. */
let base = true;
const open: Scope[] = [];

export function is_grad_enabled(): boolean {
  return open.length > 0 ? open[open.length - 1]!.on : base;
}

/** Sets the mode of the newest open scope, or the mode outside every scope when none is open. */
export function set_grad_enabled(on: boolean): void {
  if (open.length > 0) open[open.length - 1]!.on = on;
  else base = on;
}

function withGradMode<T>(on: boolean, fn: () => T): T {
  const scope: Scope = { on };
  open.push(scope);
  const close = () => {
    const i = open.lastIndexOf(scope);
    if (i >= 0) open.splice(i, 1);
  };
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close();
    throw e;
  }
  if (result instanceof Promise) return result.finally(close) as T;
  close();
  return result;
}

/** Runs fn without recording operations for autograd (PyTorch's `with torch.no_grad()`). */
export function no_grad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs fn with recording on, e.g. inside a no_grad scope. */
export function enable_grad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}
