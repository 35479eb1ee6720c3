/**
 * A value that changes over time, handed out as subscriptions with latest-value semantics: a
 * subscriber gets the current value at once, then each change. The CA's trust bundle publishes
 * through it, and so will the agent's SVID cache and the server's change feed.
 *
 * Isolation is the point. A listener that throws is reported and skipped; it never reaches the
 * publisher or another listener. A listener that is slow (returns a promise) is never called again
 * while its promise is pending: changes published meanwhile collapse into the newest one, delivered
 * when it is done. So one stuck subscriber costs memory for one value, not a queue, and never delays
 * anyone else.
 */
export type Listener<T> = (value: T) => void | Promise<void>;

export interface Subscription {
  /** Stops delivery; idempotent. A delivery already running finishes. */
  close(): void;
}

export interface PublisherOptions {
  /** Told of every listener failure; the publisher itself never throws for a listener. */
  onListenerError?: (err: unknown) => void;
}

interface Subscriber<T> {
  listener: Listener<T>;
  closed: boolean;
  busy: boolean;
  /** The newest value published while the listener was busy. */
  pending: { value: T } | undefined;
}

export class Publisher<T> {
  #current: { value: T } | undefined;
  readonly #subscribers = new Set<Subscriber<T>>();
  readonly #onListenerError: (err: unknown) => void;

  constructor(options: PublisherOptions & { initial?: T } = {}) {
    if ("initial" in options) this.#current = { value: options.initial as T };
    this.#onListenerError = options.onListenerError ?? (() => undefined);
  }

  /** The latest value, or undefined before the first publish. */
  get current(): T | undefined {
    return this.#current?.value;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  publish(value: T): void {
    this.#current = { value };
    for (const sub of [...this.#subscribers]) this.#deliver(sub, value);
  }

  subscribe(listener: Listener<T>): Subscription {
    const sub: Subscriber<T> = { listener, closed: false, busy: false, pending: undefined };
    this.#subscribers.add(sub);
    if (this.#current !== undefined) this.#deliver(sub, this.#current.value);
    return {
      close: () => {
        sub.closed = true;
        sub.pending = undefined;
        this.#subscribers.delete(sub);
      },
    };
  }

  /**
   * The values as an async iterator for a stream handler: the current value first, then the newest
   * value each time the consumer asks (intermediate ones it was too slow for are skipped). `return()`
   * (a `break` out of `for await`) closes the subscription.
   */
  values(signal?: AbortSignal): AsyncIterableIterator<T> {
    let latest: { value: T } | undefined;
    let wake: (() => void) | undefined;
    let done = false;
    const subscription = this.subscribe((value) => {
      latest = { value };
      wake?.();
    });
    const finish = (): IteratorResult<T> => {
      done = true;
      subscription.close();
      signal?.removeEventListener("abort", onAbort);
      wake?.();
      return { done: true, value: undefined };
    };
    const onAbort = (): void => void finish();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) finish();
    const iterator: AsyncIterableIterator<T> = {
      next: async () => {
        while (!done && latest === undefined) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        if (done || latest === undefined) return { done: true, value: undefined };
        const { value } = latest;
        latest = undefined;
        return { done: false, value };
      },
      return: () => Promise.resolve(finish()),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  #deliver(sub: Subscriber<T>, value: T): void {
    if (sub.closed) return;
    if (sub.busy) {
      sub.pending = { value };
      return;
    }
    let result: void | Promise<void>;
    try {
      result = sub.listener(value);
    } catch (err) {
      this.#report(err);
      return;
    }
    if (!(result instanceof Promise)) return;
    sub.busy = true;
    result.then(
      () => this.#settled(sub),
      (err: unknown) => {
        this.#report(err);
        this.#settled(sub);
      },
    );
  }

  #settled(sub: Subscriber<T>): void {
    sub.busy = false;
    const next = sub.pending;
    sub.pending = undefined;
    if (next !== undefined) this.#deliver(sub, next.value);
  }

  #report(err: unknown): void {
    try {
      this.#onListenerError(err);
    } catch {
      // The error reporter itself failed; nothing is left to tell, and the publisher must go on.
    }
  }
}
