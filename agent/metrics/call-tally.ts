/**
 * Counts by method and status code as plain numbers, for the Workload API's hot path: recording a
 * call is a Map lookup and an increment, with nothing allocated (prom-client's own counters build a
 * label string on every increment). The registry reads the counts when it is scraped.
 */
export class CallTally {
  readonly #byMethod = new Map<string, number[]>();

  add(method: string, code: number, delta = 1): void {
    let counts = this.#byMethod.get(method);
    if (counts === undefined) this.#byMethod.set(method, (counts = []));
    counts[code] = (counts[code] ?? 0) + delta;
  }

  /** Every method and code recorded so far (zeros included), with its count. */
  *entries(): Generator<[method: string, code: number, count: number]> {
    for (const [method, counts] of this.#byMethod) {
      for (let code = 0; code < counts.length; code++) {
        const count = counts[code];
        if (count !== undefined) yield [method, code, count];
      }
    }
  }
}
