/**
 * How one part of mavgate tells others that something happened: a value stream with
 * subscribers, plain callbacks called synchronously. It has the shape of an Observable's
 * `subscribe(next)` (so `link.data$.subscribe(…)` reads as it always did) without a
 * library behind it: RxJS cost ~12 MiB of RSS in every process and sat on the per-chunk
 * path of every link, where a call per subscriber is all that is needed.
 */

export interface Subscription {
  unsubscribe(): void;
}

export type Listener<T> = (value: T) => void;

/** Anything with `subscribe(next)`: these streams, and an RxJS Observable in tests. */
export interface Subscribable<T> {
  subscribe(next: Listener<T>): Subscription;
}

const NOTHING: Subscription = { unsubscribe: () => {} };

export class EventStream<T> implements Subscribable<T> {
  /** Replaced, never changed in place: a listener may unsubscribe (or subscribe) while values are delivered. */
  private listeners: readonly Listener<T>[] = [];
  private completed = false;

  /** Completed: it delivers nothing more. */
  get closed(): boolean {
    return this.completed;
  }

  subscribe(next: Listener<T>): Subscription {
    if (this.completed) return NOTHING;
    this.listeners = [...this.listeners, next];
    return {
      unsubscribe: () => {
        this.listeners = this.listeners.filter((l) => l !== next);
      },
    };
  }

  /**
   * Delivers `value` to every subscriber. One that throws does not keep it from the
   * others: its error is raised again outside this call, as an unhandled error.
   */
  next(value: T): void {
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(value);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** No more values: subscribers are let go, and later ones hear nothing. */
  complete(): void {
    this.completed = true;
    this.listeners = [];
  }
}

/**
 * A stream of states: a new subscriber hears the current one at once, and only changes
 * are delivered (`same` decides what counts as one).
 */
export class StateStream<T> extends EventStream<T> {
  constructor(
    private current: T,
    private readonly same: (a: T, b: T) => boolean = Object.is,
  ) {
    super();
  }

  get value(): T {
    return this.current;
  }

  override subscribe(next: Listener<T>): Subscription {
    const subscription = super.subscribe(next);
    if (subscription !== NOTHING) next(this.current);
    return subscription;
  }

  override next(value: T): void {
    if (this.same(this.current, value)) return;
    this.current = value;
    super.next(value);
  }
}
