import { z } from "zod";
import { parseDuration, type DurationMs } from "./duration.js";
import { errorMessage } from "../errors.js";
import type { ListenAddress } from "../http/http-listener.js";

/**
 * How a duration key shows in the config's JSON Schema (`z.toJSONSchema`, input side: a string), so
 * the generated configuration reference can say "duration" and its bounds rather than "string".
 */
export const DURATION_FORMAT = "go-duration";

/** A config duration (`90s`, `5m`, `1h`, `24h`), parsed to milliseconds, optionally bounded. */
export function duration(
  bounds: { min?: string; max?: string } = {},
): z.ZodType<DurationMs, string | number> {
  const min = bounds.min === undefined ? undefined : parseDuration(bounds.min);
  const max = bounds.max === undefined ? undefined : parseDuration(bounds.max);
  // YAML reads `ttl: 300` as a number; accept it here so the error can say the unit is missing.
  return z
    .union([z.string(), z.number()])
    .transform((input, ctx): DurationMs => {
      let value: DurationMs;
      try {
        value = parseDuration(String(input));
      } catch (err) {
        ctx.addIssue({ code: "custom", message: errorMessage(err) });
        return z.NEVER;
      }
      if (min !== undefined && value < min) {
        ctx.addIssue({ code: "custom", message: `must be at least ${bounds.min}` });
      }
      if (max !== undefined && value > max) {
        ctx.addIssue({ code: "custom", message: `must be at most ${bounds.max}` });
      }
      return value;
    })
    .meta({ format: DURATION_FORMAT, durationMin: bounds.min, durationMax: bounds.max });
}

export const logLevel = z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);
export type LogLevel = z.infer<typeof logLevel>;

export const port = z.number().int().min(0).max(65535);

/** A filesystem path given in config: non-empty, no NUL. */
export const filePath = z
  .string()
  .min(1, "must not be empty")
  .refine((p) => !p.includes("\0"), "must not contain a NUL byte");

export const logFormat = z
  .enum(["json", "pretty", "auto"])
  .default("json")
  .describe("json, pretty, or auto (pretty on a terminal).");

/** An HTTP listener's block (`bind_address`, `bind_port`), off when the block is absent. */
function httpListener(listener: string, serves: string, defaultPort: number) {
  return z
    .strictObject({
      bind_address: z
        .string()
        .min(1)
        .default("127.0.0.1")
        .describe(`Address of the HTTP ${listener} listener.`),
      bind_port: port.default(defaultPort).describe(`Port of the HTTP ${listener} listener (${serves}).`),
    })
    .optional();
}

/** `health_checks`: HTTP `/live` and `/ready`, the same block in server.yaml and agent.yaml. */
export const healthChecks = httpListener("health", "`/live`, `/ready`", 8080).describe(
  "HTTP `/live` and `/ready`; off when absent.",
);

/**
 * `metrics`: Prometheus metrics at HTTP `GET /metrics`, the same block in server.yaml and agent.yaml
 * with each its own default port (server 9988, agent 9989), so both can run on one host.
 */
export function metrics(defaultPort: number) {
  return httpListener("metrics", "`/metrics`", defaultPort).describe(
    "Prometheus metrics at HTTP `GET /metrics`; off when absent.",
  );
}

/** An HTTP listener's address; undefined when its block is absent (the listener is off). */
export type HttpListenerConfig = ListenAddress | undefined;

export type HealthChecksConfig = HttpListenerConfig;
export type MetricsConfig = HttpListenerConfig;

export function toHttpListenerConfig(
  file: { bind_address: string; bind_port: number } | undefined,
): HttpListenerConfig {
  return file === undefined ? undefined : { bindAddress: file.bind_address, bindPort: file.bind_port };
}
