/** Waiting for events, never for a fixed time: every wait has a timeout that fails the test with a reason. */
import { filter, firstValueFrom, type Observable, timeout } from 'rxjs';

export function waitFor<T>(source: Observable<T>, predicate: (value: T) => boolean, what: string, ms = 5000): Promise<T> {
  return firstValueFrom(
    source.pipe(
      filter(predicate),
      timeout({ first: ms, with: () => { throw new Error(`timed out after ${ms} ms waiting for ${what}`); } }),
    ),
  );
}

/** Polls a condition on each event-loop turn (for state that has no event), with a timeout. */
export async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
