import { createPublicKey, verify, type KeyObject, type X509Certificate } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import type { RandomSource } from "../../common/random.js";
import { errorMessage } from "../../common/errors.js";
import { validateX509Svid, type SpiffeId, type TrustDomain } from "../../common/spiffe/index.js";
import { normalizeSerial, possessionProofMessage } from "../../common/node-api/possession-proof.js";
import type { AuditSink } from "../audit/audit-log.js";
import type { AuditCaller } from "../audit/audit-event.js";
import type { Datastore } from "../datastore/index.js";
import type { AuthorizationView } from "../registration/authorization-view.js";
import { PossessionError } from "./possession-error.js";
import { verifyAgentSvidChain } from "./agent-svid-chain.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";

/** The TLS connection a call came on: the key its state is kept under, and the socket. */
export interface AgentConnection {
  /** Same object for every call on the connection (its HTTP/2 session). */
  readonly key: object;
  /** `possessionExporter` of the connection's TLS socket. */
  readonly exporter: () => Buffer;
}

/** The agent a connection is proved for. */
export interface ProvedAgent {
  readonly agentId: string;
  readonly svidSerial: string;
  readonly expiresAtMs: number;
}

export interface PossessionProofRequest {
  readonly nonce: Buffer;
  readonly timestampMs: number;
  readonly signature: Buffer;
  /** The agent's current SVID (DER), then its intermediates. */
  readonly svidChain: readonly Buffer[];
}

export interface PossessionOptions {
  /** How long a nonce may be answered (default 60 s). */
  readonly nonceTtlMs?: number;
  /** How far the agent's clock may be from the server's (default 5 min). */
  readonly clockSkewMs?: number;
}

interface ConnectionState {
  /** Outstanding nonces (hex) → expiry. Each is deleted when used: a replay finds nothing. */
  readonly nonces: Map<string, number>;
  proved: ProvedAgent | undefined;
}

const NONCE_BYTES = 32;
/** A connection asking for more nonces than this without using them loses the oldest. */
const MAX_OUTSTANDING_NONCES = 4;

/**
 * Connection-bound proof of possession (docs/node-api.md): an agent's SVID names it, but only a signature by its TPM-held key over this connection's TLS exporter value, a
 * nonce from this connection and its current SVID serial authenticates it. Once per connection;
 * every later call re-checks the cheap parts (node still known, not banned, same serial, not
 * expired) against the in-memory authorization view.
 */
export class PossessionVerifier {
  readonly #connections = new WeakMap<object, ConnectionState>();
  readonly #nonceTtlMs: number;
  readonly #clockSkewMs: number;

  constructor(
    private readonly deps: {
      readonly trustDomain: TrustDomain;
      readonly datastore: Datastore;
      readonly view: AuthorizationView;
      readonly audit: AuditSink;
      readonly clock: Clock;
      readonly random: RandomSource;
      /** The trust bundle agent SVIDs must chain to. */
      readonly bundle: () => SpiffeBundle;
    },
    options: PossessionOptions = {},
  ) {
    this.#nonceTtlMs = options.nonceTtlMs ?? 60_000;
    this.#clockSkewMs = options.clockSkewMs ?? 300_000;
  }

  challenge(connection: AgentConnection): { nonce: Buffer; expiresAtMs: number } {
    const state = this.#state(connection);
    const now = this.deps.clock.nowMs();
    for (const [nonce, expiresAt] of state.nonces) if (expiresAt <= now) state.nonces.delete(nonce);
    while (state.nonces.size >= MAX_OUTSTANDING_NONCES) {
      const oldest = state.nonces.keys().next().value as string;
      state.nonces.delete(oldest);
    }
    const nonce = this.deps.random.bytes(NONCE_BYTES);
    const expiresAtMs = now + this.#nonceTtlMs;
    state.nonces.set(nonce.toString("hex"), expiresAtMs);
    return { nonce, expiresAtMs };
  }

  /** Checks the proof; on success the connection is authenticated as the agent. Refusals are audited. */
  async prove(
    connection: AgentConnection,
    request: PossessionProofRequest,
    caller: AuditCaller,
  ): Promise<ProvedAgent> {
    let agentId: string | undefined;
    try {
      const state = this.#state(connection);
      const certificate = verifyAgentSvidChain(
        request.svidChain,
        this.deps.bundle(),
        this.deps.clock.nowMs(),
      );
      const agent = this.#agentOf(certificate);
      agentId = agent.toString();
      // The nonce is spent whatever follows: one proof attempt per nonce.
      const nonceKey = request.nonce.toString("hex");
      const nonceExpiry = state.nonces.get(nonceKey);
      state.nonces.delete(nonceKey);
      const now = this.deps.clock.nowMs();
      if (nonceExpiry === undefined || nonceExpiry <= now)
        throw new PossessionError(
          "POP_NONCE_UNKNOWN",
          "the nonce was not issued on this connection, was used already, or expired",
        );
      if (Math.abs(request.timestampMs - now) > this.#clockSkewMs)
        throw new PossessionError(
          "POP_CLOCK_SKEW",
          `the proof's time is ${Math.round((request.timestampMs - now) / 1000)} s from the server's`,
        );
      // The datastore, not the view: a proof right after attestation must see that attestation.
      const node = await this.deps.datastore.getAttestedNode(agent);
      if (node === undefined) throw new PossessionError("POP_UNKNOWN_AGENT", `${agentId} is not attested`);
      if (node.banned) throw new PossessionError("POP_AGENT_BANNED", `${agentId} is banned`);
      const serial = normalizeSerial(certificate.serialNumber);
      if (serial !== normalizeSerial(node.svidSerial))
        throw new PossessionError(
          "POP_SERIAL_NOT_CURRENT",
          `the SVID presented (serial ${serial}) is not ${agentId}'s current SVID`,
        );
      const recordedKey = createPublicKey({ key: node.agentKey, format: "der", type: "spki" });
      if (!certificate.publicKey.equals(recordedKey))
        throw new PossessionError("POP_KEY_MISMATCH", "the SVID's key is not the attested agent key");
      const exporter = connection.exporter();
      const message = possessionProofMessage({
        exporter,
        nonce: request.nonce,
        svidSerial: serial,
        timestampMs: request.timestampMs,
      });
      if (!verifySignature(message, recordedKey, request.signature))
        throw new PossessionError(
          "POP_SIGNATURE_INVALID",
          "the proof is not signed by the attested agent key over this connection",
        );
      const proved = { agentId, svidSerial: serial, expiresAtMs: node.svidExpiresAtMs };
      state.proved = proved;
      return proved;
    } catch (err) {
      this.deps.audit.record({
        type: "pop_refused",
        reason: err instanceof PossessionError ? err.code : "POP_MALFORMED",
        detail: errorMessage(err),
        caller: { ...caller, ...(agentId === undefined ? {} : { agentId }) },
      });
      if (err instanceof PossessionError) throw err;
      throw new PossessionError("POP_MALFORMED", `the proof cannot be checked: ${errorMessage(err)}`);
    }
  }

  /**
   * The agent this connection was proved for, still current: known, not banned, the SVID proved is
   * its current one and has not expired. Throws PossessionError otherwise.
   */
  authenticate(connection: AgentConnection): ProvedAgent {
    const proved = this.#connections.get(connection.key)?.proved;
    if (proved === undefined)
      throw new PossessionError("POP_REQUIRED", "prove possession of the agent key on this connection first");
    return this.recheck(proved);
  }

  /** The cheap checks, for each call and for a long-lived stream at each change. */
  recheck(proved: ProvedAgent): ProvedAgent {
    const node = this.deps.view.node(proved.agentId);
    if (node === undefined) throw new PossessionError("POP_UNKNOWN_AGENT", `${proved.agentId} was evicted`);
    if (node.banned) throw new PossessionError("POP_AGENT_BANNED", `${proved.agentId} is banned`);
    if (normalizeSerial(node.svidSerial) !== proved.svidSerial)
      throw new PossessionError("POP_SERIAL_NOT_CURRENT", "the agent attested again: prove possession again");
    if (this.deps.clock.nowMs() >= proved.expiresAtMs)
      throw new PossessionError("POP_EXPIRED", "the agent SVID proved on this connection has expired");
    return proved;
  }

  #state(connection: AgentConnection): ConnectionState {
    let state = this.#connections.get(connection.key);
    if (state === undefined) {
      state = { nonces: new Map(), proved: undefined };
      this.#connections.set(connection.key, state);
    }
    return state;
  }

  #agentOf(certificate: X509Certificate): SpiffeId {
    const { spiffeId } = validateX509Svid(certificate.raw);
    if (!spiffeId.memberOf(this.deps.trustDomain) || !spiffeId.path.startsWith("/hallmark/agent/"))
      throw new PossessionError(
        "POP_NOT_AN_AGENT",
        `${spiffeId.toString()} is not an agent of this trust domain`,
      );
    return spiffeId;
  }
}

function verifySignature(message: Buffer, key: KeyObject, signature: Buffer): boolean {
  try {
    return verify("sha256", message, key, signature);
  } catch {
    return false;
  }
}
