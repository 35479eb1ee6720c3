import { z } from "zod";
import type { AgentHealthReport } from "./agent-health.js";

/**
 * Check's answer is the standard one-field message (SERVING or NOT_SERVING), so the report that
 * says why travels beside it, in this trailing metadata entry: JSON, ASCII only (gRPC metadata
 * values must be printable ASCII; other characters are written as \u escapes, which JSON.parse
 * reads back). Clients that do not know it ignore it, as gRPC clients do with any unknown entry.
 */
export const HEALTH_REPORT_TRAILER = "hallmark-health-report";

/**
 * Kept well below the smallest header-list limit a client may enforce (HTTP/2 peers often allow
 * 8-16 KiB of headers): a trailer over a client's limit would fail the whole Check for it.
 */
export const MAX_HEALTH_TRAILER_BYTES = 4096;
/** How much of one problem a shortened report keeps. */
const SHORTENED_PROBLEM_CHARS = 400;

/** The report as a trailer value; shortened (no error details, problems clipped) when too large. */
export function encodeHealthTrailer(report: AgentHealthReport): string {
  const full = asciiJson(report);
  if (full.length <= MAX_HEALTH_TRAILER_BYTES) return full;
  const shortened = asciiJson({
    ...report,
    errors: {},
    problems: report.problems.map((p) =>
      p.length <= SHORTENED_PROBLEM_CHARS ? p : `${p.slice(0, SHORTENED_PROBLEM_CHARS - 3)}...`,
    ),
    shortened: true,
  });
  if (shortened.length <= MAX_HEALTH_TRAILER_BYTES) return shortened;
  return asciiJson({
    healthy: report.healthy,
    problems: ["The health report is too large to send here: read it at /ready or in the agent's log."],
    shortened: true,
  });
}

const reportedError = z.object({ code: z.string(), message: z.string(), at: z.string() });

/** What a client can rely on in a trailer: healthy and problems; the rest when the agent sent it. */
const trailerReport = z.looseObject({
  healthy: z.boolean(),
  problems: z.array(z.string()),
  attested: z.boolean().optional(),
  synced: z.boolean().optional(),
  serverReachable: z.boolean().optional(),
  entries: z.number().optional(),
  entriesWithValidSvid: z.number().optional(),
  pending: z.number().optional(),
  spiffeId: z.string().optional(),
  svidExpiresAt: z.string().optional(),
  lastSyncAt: z.string().optional(),
  errors: z
    .object({
      identity: reportedError.optional(),
      sync: reportedError.optional(),
      cache: reportedError.optional(),
    })
    .optional(),
  checkedAt: z.string().optional(),
  shortened: z.boolean().optional(),
});

export type HealthTrailerReport = z.output<typeof trailerReport>;

/** The report a trailer carries, or undefined when it is not one (another server's, or garbled). */
export function decodeHealthTrailer(value: string): HealthTrailerReport | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  const result = trailerReport.safeParse(parsed);
  return result.success ? result.data : undefined;
}

function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
