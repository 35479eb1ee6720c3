import { pino, type Logger, type DestinationStream } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "../config/schema.js";

export type { Logger } from "pino";

export type LogFormat = "json" | "pretty" | "auto";

export interface LoggerOptions {
  /** Component name, e.g. "server" or "agent"; every line carries it. */
  name: string;
  level?: LogLevel;
  /** json by default; pretty for people; auto is pretty on a terminal, json otherwise. */
  format?: LogFormat;
  /**
   * Where lines go; stderr by default so stdout stays free for command output. Written
   * synchronously: the last lines before a crash or exit are the ones an operator needs.
   */
  destination?: DestinationStream & { isTTY?: boolean };
}

/**
 * Fields that must never reach a log line even if a caller passes a whole config or request
 * object: secrets are replaced, not dropped, so a reader sees that something was there.
 */
export const REDACTED_PATHS = [
  "pin",
  "*.pin",
  "password",
  "*.password",
  "token",
  "*.token",
  "private_key",
  "*.private_key",
  "privateKey",
  "*.privateKey",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
];

export function createLogger(options: LoggerOptions): Logger {
  const destination: DestinationStream = options.destination ?? pino.destination({ fd: 2, sync: true });
  const format = options.format ?? "json";
  const onTerminal = options.destination ? Boolean(options.destination.isTTY) : process.stderr.isTTY;
  const usePretty = format === "pretty" || (format === "auto" && onTerminal);
  const base = {
    name: options.name,
    level: options.level ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (usePretty) {
    return pino(base, pretty({ destination, colorize: format === "auto", translateTime: "SYS:standard" }));
  }
  return pino(base, destination);
}
