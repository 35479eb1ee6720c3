import { errorMessage } from "../errors.js";
import type { Logger } from "../logging/logger.js";

/**
 * What a composition root started, to be stopped in reverse order: on a clean stop, and when a
 * later part fails to start (so nothing is left running half-built). A part that fails to stop is
 * logged and the others are still stopped.
 */
export class StopStack {
  readonly #parts: { name: string; stop: () => Promise<void> | void }[] = [];

  constructor(private readonly logger: Logger) {}

  push(name: string, stop: () => Promise<void> | void): void {
    this.#parts.push({ name, stop });
  }

  /** Stops every part pushed so far, newest first; idempotent. */
  async stopAll(): Promise<void> {
    for (const part of this.#parts.splice(0).reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.logger.error({ part: part.name, err: errorMessage(err) }, "stopping a part failed");
      }
    }
  }
}
