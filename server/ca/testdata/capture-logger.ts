// A real logger (the production one) whose lines are kept in memory, so tests can read what was logged.
import { createLogger, type Logger } from "../../../common/logging/logger.js";

export interface CapturedLogger {
  logger: Logger;
  /** Every line so far, parsed. */
  records(): Record<string, unknown>[];
}

export function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const logger = createLogger({
    name: "ca-test",
    level: "debug",
    destination: { write: (line) => void lines.push(line) },
  });
  return { logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
