import { pino, type Logger, type DestinationStream } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "../config/schema.js";
import { redactLine } from "./redact.js";

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

export function createLogger(options: LoggerOptions): Logger {
  const destination: DestinationStream = options.destination ?? pino.destination({ fd: 2, sync: true });
  const format = options.format ?? "json";
  const onTerminal = options.destination ? Boolean(options.destination.isTTY) : process.stderr.isTTY;
  const usePretty = format === "pretty" || (format === "auto" && onTerminal);
  const base = {
    name: options.name,
    level: options.level ?? "info",
    // Redaction sees each finished line, so nothing escapes it: not a child logger's bindings (pino
    // formats those once, without its formatters), not a field of a serialized error.
    hooks: { streamWrite: redactLine },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (usePretty) {
    return pino(base, pretty({ destination, colorize: format === "auto", translateTime: "SYS:standard" }));
  }
  return pino(base, destination);
}
