import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import { checkSelector, InvalidSelectorError, type Selector } from "../../common/selector.js";

/**
 * The selectors one attestor found for one caller, and a debug line for each one it could not
 * make: an attestor never fails for missing data, so the log is where an operator learns why an
 * entry did not match (`unix attestor: no sha256 selector` with the reason and the PID).
 */
export class SelectorCollector {
  readonly #type: string;
  readonly #logger: Logger;
  readonly #pid: number;
  readonly #byValue = new Map<string, Selector>();

  constructor(type: string, logger: Logger, pid: number) {
    this.#type = type;
    this.#logger = logger;
    this.#pid = pid;
  }

  /** Adds `type:key:value`; a value no selector may hold (a control character, too long) is logged instead. */
  add(key: string, value: string | number): void {
    const text = `${key}:${value}`;
    if (this.#byValue.has(text)) return;
    try {
      this.#byValue.set(text, checkSelector({ type: this.#type, value: text }));
    } catch (err) {
      if (!(err instanceof InvalidSelectorError)) throw err;
      this.missing(key, err);
    }
  }

  /** Records that `what` could not be made, and why. */
  missing(what: string, reason: unknown): void {
    this.#logger.debug(
      { attestor: this.#type, pid: this.#pid, missing: what, reason: errorMessage(reason) },
      `${this.#type} attestor: no ${what} selector`,
    );
  }

  get selectors(): readonly Selector[] {
    return [...this.#byValue.values()];
  }
}
