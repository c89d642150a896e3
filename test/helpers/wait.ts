/** Waiting for events, never for a fixed time: every wait has a timeout that fails the test with a reason. */
import type { Subscribable } from '../../src/events/event-stream.js';

/** The first value of `source` (a stream of ours or an RxJS Observable) that satisfies `predicate`. */
export function waitFor<T>(source: Subscribable<T>, predicate: (value: T) => boolean, what: string, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      subscription.unsubscribe();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const subscription = source.subscribe((value) => {
      if (done || !predicate(value)) return;
      done = true;
      clearTimeout(timer);
      // A stream that replays its current value calls back before `subscribe` returns.
      queueMicrotask(() => subscription.unsubscribe());
      resolve(value);
    });
  });
}

/** The next value of `source`, whatever it is. */
export function nextValue<T>(source: Subscribable<T>, what: string, ms = 5000): Promise<T> {
  return waitFor(source, () => true, what, ms);
}

/** Polls a condition on each event-loop turn (for state that has no event), with a timeout. */
export async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
