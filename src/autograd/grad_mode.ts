/**
 * Whether ops record the graph. Scopes accept sync and async functions; an async one keeps its
 * setting until its promise settles (JS has no per-task context to scope it more tightly).
 */
let enabled = true;

export function is_grad_enabled(): boolean {
  return enabled;
}

export function set_grad_enabled(on: boolean): void {
  enabled = on;
}

function withGradMode<T>(on: boolean, fn: () => T): T {
  const previous = enabled;
  enabled = on;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    enabled = previous;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => (enabled = previous)) as T;
  }
  enabled = previous;
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
