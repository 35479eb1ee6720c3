import { Writable } from "node:stream";
import { createLogger, type Logger } from "../logger.js";

/** The production logger writing into memory, for tests that check what was logged. */
export function capturingLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ name: "test", destination }), text: () => chunks.join("") };
}
