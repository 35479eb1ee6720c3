/**
 * One schedule for every entry: a binary min-heap of (due time, key) with each key's position indexed,
 * so setting, moving or removing one key's time costs O(log n) and the earliest is read in O(1). The
 * cache arms a single clock timer for the earliest time; 10,000 entries cost 10,000 heap slots, not
 * 10,000 timers.
 */
export class DueQueue<K> {
  readonly #keys: K[] = [];
  readonly #times: number[] = [];
  readonly #position = new Map<K, number>();

  get size(): number {
    return this.#keys.length;
  }

  /** The earliest due time, or Infinity when nothing is scheduled. */
  get earliestMs(): number {
    return this.#times[0] ?? Infinity;
  }

  timeOf(key: K): number | undefined {
    const at = this.#position.get(key);
    return at === undefined ? undefined : this.#times[at];
  }

  /** Schedules `key` at `atMs`, moving it if it was scheduled; Infinity (never) unschedules it. */
  set(key: K, atMs: number): void {
    if (atMs === Infinity) {
      this.delete(key);
      return;
    }
    const at = this.#position.get(key);
    if (at === undefined) {
      this.#keys.push(key);
      this.#times.push(atMs);
      this.#position.set(key, this.#keys.length - 1);
      this.#up(this.#keys.length - 1);
      return;
    }
    const before = this.#times[at] as number;
    this.#times[at] = atMs;
    if (atMs < before) this.#up(at);
    else this.#down(at);
  }

  delete(key: K): boolean {
    const at = this.#position.get(key);
    if (at === undefined) return false;
    this.#position.delete(key);
    const lastKey = this.#keys.pop() as K;
    const lastTime = this.#times.pop() as number;
    if (at < this.#keys.length) {
      this.#keys[at] = lastKey;
      this.#times[at] = lastTime;
      this.#position.set(lastKey, at);
      this.#up(at);
      this.#down(at);
    }
    return true;
  }

  /** Removes and returns every key due at or before `nowMs`, earliest first. */
  popDue(nowMs: number): K[] {
    const due: K[] = [];
    while (this.#keys.length > 0 && (this.#times[0] as number) <= nowMs) {
      const key = this.#keys[0] as K;
      this.delete(key);
      due.push(key);
    }
    return due;
  }

  clear(): void {
    this.#keys.length = 0;
    this.#times.length = 0;
    this.#position.clear();
  }

  #up(at: number): void {
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if ((this.#times[parent] as number) <= (this.#times[at] as number)) return;
      this.#swap(at, parent);
      at = parent;
    }
  }

  #down(at: number): void {
    const n = this.#keys.length;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let smallest = at;
      if (left < n && (this.#times[left] as number) < (this.#times[smallest] as number)) smallest = left;
      if (right < n && (this.#times[right] as number) < (this.#times[smallest] as number)) smallest = right;
      if (smallest === at) return;
      this.#swap(at, smallest);
      at = smallest;
    }
  }

  #swap(a: number, b: number): void {
    const keyA = this.#keys[a] as K;
    const keyB = this.#keys[b] as K;
    const timeA = this.#times[a] as number;
    this.#keys[a] = keyB;
    this.#keys[b] = keyA;
    this.#times[a] = this.#times[b] as number;
    this.#times[b] = timeA;
    this.#position.set(keyB, a);
    this.#position.set(keyA, b);
  }
}
