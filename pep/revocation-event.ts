import { RevocationStreamError } from "./errors.js";
import { REVOCATION_KINDS, type Revocation, type RevocationKind } from "./revocation.js";
import type { SseEvent } from "./sse-parser.js";

/** The events of `GET /revocations` (docs/delegation.md "The revocation stream"). */
export type RevocationStreamEvent =
  | { readonly type: "revocation"; readonly id: string; readonly revocation: Revocation }
  | { readonly type: "heartbeat"; readonly time: number }
  | { readonly type: "synced" }
  | { readonly type: "reset" };

/** Reads one SSE event as the contract defines it; unknown event types are ignored (undefined). */
export function parseRevocationEvent(event: SseEvent): RevocationStreamEvent | undefined {
  switch (event.type) {
    case "revocation":
      return revocationEvent(event);
    case "heartbeat":
      return { type: "heartbeat", time: numberField(objectData(event), "time", event.type) };
    case "synced":
      return { type: "synced" };
    case "reset":
      return { type: "reset" };
    default:
      // Forward compatibility: a newer server may send kinds of event this verifier predates.
      return undefined;
  }
}

function revocationEvent(event: SseEvent): RevocationStreamEvent {
  if (event.lastEventId === undefined || event.lastEventId === "")
    throw new RevocationStreamError("REVOCATION_EVENT_MALFORMED", "a revocation event has no id");
  const data = objectData(event);
  const kind = data["kind"];
  if (typeof kind !== "string" || !(REVOCATION_KINDS as readonly string[]).includes(kind))
    throw new RevocationStreamError(
      "REVOCATION_EVENT_MALFORMED",
      `revocation ${event.lastEventId}: unknown kind`,
    );
  const value = data["value"];
  if (typeof value !== "string" || value === "")
    throw new RevocationStreamError(
      "REVOCATION_EVENT_MALFORMED",
      `revocation ${event.lastEventId}: value is not a string`,
    );
  return {
    type: "revocation",
    id: event.lastEventId,
    revocation: {
      kind: kind as RevocationKind,
      value,
      revokedAt: numberField(data, "revoked_at", event.type),
      expiresAt: numberField(data, "expires_at", event.type),
    },
  };
}

function objectData(event: SseEvent): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(event.data);
  } catch (err) {
    throw new RevocationStreamError(
      "REVOCATION_EVENT_MALFORMED",
      `${event.type} event data is not JSON`,
      err,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new RevocationStreamError(
      "REVOCATION_EVENT_MALFORMED",
      `${event.type} event data is not a JSON object`,
    );
  return parsed as Record<string, unknown>;
}

function numberField(data: Record<string, unknown>, name: string, type: string): number {
  const value = data[name];
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new RevocationStreamError("REVOCATION_EVENT_MALFORMED", `${type} event: ${name} is not a number`);
  return value;
}
