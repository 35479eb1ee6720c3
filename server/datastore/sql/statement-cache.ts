/**
 * Prepared statements by SQL text, least recently used out first. Most statements have a fixed
 * text; multi-row inserts and IN lists vary with their size, and the bound keeps those from growing
 * the cache without limit.
 */
export class StatementCache<V> {
  readonly #limit: number;
  readonly #entries = new Map<string, V>();

  constructor(limit = 256) {
    this.#limit = limit;
  }

  get(text: string, make: (text: string) => V): V {
    const hit = this.#entries.get(text);
    if (hit !== undefined) {
      // Re-inserting moves it to the newest end of the Map's order.
      this.#entries.delete(text);
      this.#entries.set(text, hit);
      return hit;
    }
    const made = make(text);
    this.#entries.set(text, made);
    if (this.#entries.size > this.#limit) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return made;
  }
}
