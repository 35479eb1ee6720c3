/**
 * Shared values by key, bounded: `get(key, make)` makes the value for a key the first time and hands
 * out that same value afterwards, so 10,000 records naming the same thing hold one object between
 * them instead of 10,000 equal ones. Once it holds `maxKeys` keys it starts over: values handed out
 * stay valid (they are only no longer shared with later ones), and a stream of distinct keys never
 * costs more than `maxKeys` slots. Values must be immutable: every holder of one sees the others'.
 */
export class InternTable<V> {
  readonly #values = new Map<string, V>();

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.#values.size;
  }

  /** The value for `key`: the one made before, or `make(key)` (whose throw leaves the table unchanged). */
  get(key: string, make: (key: string) => V): V {
    let value = this.#values.get(key);
    if (value === undefined) {
      value = make(key);
      if (this.#values.size >= this.maxKeys) this.#values.clear();
      this.#values.set(key, value);
    }
    return value;
  }
}
