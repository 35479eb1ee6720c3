/**
 * The agent's health as one pure function of what its parts report, so every combination can be
 * tested without a server or a TPM. `/ready`, the gRPC health service and `hallmark-agent
 * healthcheck` all show this report; everything in it may be read by every local user (the agent's
 * socket is world-connectable), so it holds states, counts and error messages, never key material.
 */

/** The error of a part's latest attempt; the part drops it once an attempt succeeds. */
export interface HealthInputError {
  readonly code: string;
  readonly message: string;
  readonly atMs: number;
}

export interface AgentHealthInputs {
  readonly identity: {
    /** The agent holds an SVID from a node attestation (it may have expired since: see expiresAtMs). */
    readonly attested: boolean;
    readonly spiffeId?: string;
    /** The agent SVID's notAfter; an identity without one is not counted as valid. */
    readonly expiresAtMs?: number;
    readonly lastError?: HealthInputError;
  };
  readonly sync: {
    /** The Sync stream is open now. */
    readonly connected: boolean;
    /** A full state was applied at least once since the last (re)attestation. */
    readonly synced: boolean;
    readonly lastSyncAtMs?: number;
    readonly lastError?: HealthInputError;
  };
  readonly cache: {
    /** Entries the agent may issue for. */
    readonly entries: number;
    /** Entries whose X.509-SVID is valid now. */
    readonly entriesWithValidSvid: number;
    /** Entries waiting for an SVID from the server (new, or due for renewal). */
    readonly pending: number;
    /** The last call to the server for SVIDs got an answer. */
    readonly serverReachable: boolean;
    readonly lastError?: HealthInputError;
  };
}

/** An input error as the report shows it: the time as an ISO 8601 string. */
export interface ReportedError {
  readonly code: string;
  readonly message: string;
  readonly at: string;
}

export interface AgentHealthReport {
  /** Ready to serve: attested with an unexpired SVID, synced, and a valid SVID for every entry. */
  readonly healthy: boolean;
  readonly attested: boolean;
  readonly synced: boolean;
  /** The Sync stream is open and the last SVID call got an answer. */
  readonly serverReachable: boolean;
  readonly entries: number;
  readonly entriesWithValidSvid: number;
  readonly pending: number;
  /** One sentence per problem, for an operator; may be non-empty while healthy (a server outage). */
  readonly problems: readonly string[];
  readonly spiffeId?: string;
  readonly svidExpiresAt?: string;
  readonly lastSyncAt?: string;
  readonly errors: {
    readonly identity?: ReportedError;
    readonly sync?: ReportedError;
    readonly cache?: ReportedError;
  };
  readonly checkedAt: string;
}

export function agentHealthReport(inputs: AgentHealthInputs, nowMs: number): AgentHealthReport {
  const { identity, sync, cache } = inputs;
  const attested = identityValid(identity, nowMs);
  const serverReachable = sync.connected && cache.serverReachable;
  const withoutSvid = Math.max(0, cache.entries - cache.entriesWithValidSvid);
  const outage = serverReachable ? undefined : outageProblem(inputs);
  const problems = [
    ...identityProblems(identity, nowMs),
    ...(identity.attested ? syncProblems(sync) : []),
    ...(outage === undefined ? [] : [outage]),
    ...entryProblems(cache, withoutSvid, serverReachable),
  ];
  const errors = {
    ...(identity.lastError && { identity: reported(identity.lastError) }),
    ...(sync.lastError && { sync: reported(sync.lastError) }),
    ...(cache.lastError && { cache: reported(cache.lastError) }),
  };
  return {
    healthy: attested && sync.synced && withoutSvid === 0,
    attested,
    synced: sync.synced,
    serverReachable,
    entries: cache.entries,
    entriesWithValidSvid: cache.entriesWithValidSvid,
    pending: cache.pending,
    problems,
    ...(identity.spiffeId !== undefined && { spiffeId: identity.spiffeId }),
    ...(identity.expiresAtMs !== undefined && { svidExpiresAt: iso(identity.expiresAtMs) }),
    ...(sync.lastSyncAtMs !== undefined && { lastSyncAt: iso(sync.lastSyncAtMs) }),
    errors,
    checkedAt: iso(nowMs),
  };
}

/**
 * When the report for unchanged inputs would next change by time alone (the agent SVID expiring),
 * or undefined if never: whoever publishes reports makes a fresh one then.
 */
export function nextHealthChangeAtMs(inputs: AgentHealthInputs, nowMs: number): number | undefined {
  const { expiresAtMs } = inputs.identity;
  return inputs.identity.attested && expiresAtMs !== undefined && expiresAtMs > nowMs
    ? expiresAtMs
    : undefined;
}

function identityValid(identity: AgentHealthInputs["identity"], nowMs: number): boolean {
  return identity.attested && identity.expiresAtMs !== undefined && nowMs < identity.expiresAtMs;
}

function identityProblems(identity: AgentHealthInputs["identity"], nowMs: number): string[] {
  const { lastError, expiresAtMs } = identity;
  const who = identity.spiffeId ?? "the agent's SVID";
  if (!identity.attested) {
    return [
      lastError === undefined
        ? "The agent has not attested to the server yet."
        : `The agent is not attested: its last attempt failed ${because(lastError)}; it tries again with backoff.`,
    ];
  }
  if (expiresAtMs === undefined) {
    return [`The agent's identity ${who} has no recorded expiry, so it is not counted as valid.`];
  }
  if (nowMs >= expiresAtMs) {
    return [
      `The agent's identity ${who} expired at ${iso(expiresAtMs)} and was not renewed` +
        (lastError === undefined ? "." : `: re-attestation failed ${because(lastError)}.`),
    ];
  }
  if (lastError !== undefined) {
    return [
      `Re-attestation failed ${because(lastError)}; the current identity ${who} stays valid until ` +
        `${iso(expiresAtMs)} and attestation is retried.`,
    ];
  }
  return [];
}

/** Only asked once attested: before that, syncing cannot start and the identity problem says why. */
function syncProblems(sync: AgentHealthInputs["sync"]): string[] {
  if (sync.synced) return [];
  if (sync.connected) return ["The agent is connected to the server but has not received its entries yet."];
  return [
    "The agent has not received its entries from the server since it attested" +
      (sync.lastError === undefined ? "." : `: the last sync failed ${because(sync.lastError)}.`),
  ];
}

function outageProblem({ identity, sync, cache }: AgentHealthInputs): string | undefined {
  // Before attestation only attestation talks to the server, and its problem names the failure;
  // before the first sync, the sync problem does.
  if (!identity.attested || (!sync.synced && !sync.connected)) return undefined;
  const error = latest(sync.lastError, cache.lastError);
  const cause = error === undefined ? "" : ` (last error ${because(error)})`;
  const valid = cache.entriesWithValidSvid;
  const serving =
    valid === 0
      ? "the agent holds no valid SVID to serve"
      : `the agent keeps serving the ${valid === 1 ? "1 SVID that is" : `${valid} SVIDs that are`} still valid`;
  return `The server cannot be reached${cause}; ${serving}, but cannot renew SVIDs or learn of entry changes until it is back.`;
}

function entryProblems(
  cache: AgentHealthInputs["cache"],
  withoutSvid: number,
  serverReachable: boolean,
): string[] {
  const { entries, pending, lastError } = cache;
  if (withoutSvid === 0) {
    return lastError !== undefined && serverReachable
      ? [
          `The last SVID request to the server failed ${because(lastError)}; it is retried, and the ` +
            "SVIDs held stay valid meanwhile.",
        ]
      : [];
  }
  const cause = !serverReachable
    ? "they cannot be signed while the server is unreachable"
    : lastError !== undefined
      ? `the last SVID request failed ${because(lastError)}, and it is retried`
      : pending > 0
        ? `${pending} ${pending === 1 ? "is" : "are"} waiting for the server to sign ${pending === 1 ? "its" : "their"} SVID`
        : "none is being requested (see the agent's log)";
  return [
    `${withoutSvid} of ${entries} ${entries === 1 ? "entry" : "entries"} ${withoutSvid === 1 ? "has" : "have"} ` +
      `no valid SVID, so ${withoutSvid === 1 ? "its workloads get" : "their workloads get"} none: ${cause}.`,
  ];
}

function because(error: HealthInputError): string {
  return `at ${iso(error.atMs)} with ${error.code}: ${error.message}`;
}

function latest(
  a: HealthInputError | undefined,
  b: HealthInputError | undefined,
): HealthInputError | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.atMs > a.atMs ? b : a;
}

function reported(error: HealthInputError): ReportedError {
  return { code: error.code, message: error.message, at: iso(error.atMs) };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
