import { isIP } from "node:net";
import type { TLSSocket } from "node:tls";
import { createSecureContext } from "node:tls";
import { ChannelCredentials, Metadata, type CallOptions, type ChannelOptions } from "@grpc/grpc-js";
import type { Clock } from "../../common/clock.js";
import { throwIfAborted } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import { nodeApiCredentials, observingConnections } from "../../common/node-api/node-api-credentials.js";
import { possessionDigestFor, possessionExporter } from "../../common/node-api/possession-proof.js";
import { SpiffeId, type SpiffeBundle } from "../../common/spiffe/index.js";
import type { AgentKeyBlob, AgentSignature } from "../../native/tpm/index.js";
import { NodeClient } from "../../proto/gen/node.js";
import type { AgentIdentity } from "../identity/agent-identity.js";
import { NodeApiError, unaryCall } from "./node-api-error.js";

/** What signs the proof of possession: the TPM, through the agent's one queue. */
export interface PossessionSigner {
  sign(blob: AgentKeyBlob, digest: Buffer, op?: { signal?: AbortSignal }): Promise<AgentSignature>;
}

export type ServerTrust =
  { readonly kind: "bundle"; readonly bundle: SpiffeBundle } | { readonly kind: "insecure" };

export interface NodeConnectionOptions {
  /** `host:port` of the server's node API. */
  readonly target: string;
  /** The SPIFFE ID the server's TLS certificate must carry. */
  readonly serverId: string;
  readonly trust: ServerTrust;
  readonly signer: PossessionSigner;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Deadline of each unary call (default 30 s). */
  readonly callTimeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** A proof can lose a race with a reconnect (its nonce belonged to the old connection): try again. */
const PROOF_ATTEMPTS = 3;

/**
 * The agent's connection to the server's node API: one gRPC channel (so one TLS connection at a
 * time), and the proof of possession the server requires on each TLS connection, made once per
 * connection with one TPM signature and made again whenever the channel reconnects or the agent's
 * identity changes. Callers just call; `authenticated` proves first when needed.
 */
export class NodeConnection {
  readonly #options: NodeConnectionOptions;
  #client: NodeClient;
  #trust: ServerTrust;
  #socket: TLSSocket | undefined;
  #identity: AgentIdentity | undefined;
  /** The connection and identity the last proof was made for. */
  #proved: { socket: TLSSocket; serial: string } | undefined;
  #proving: Promise<void> | undefined;
  /** Channels replaced by a newer bundle, closed once their calls had time to end. */
  readonly #retired = new Set<NodeClient>();

  constructor(options: NodeConnectionOptions) {
    this.#options = options;
    this.#trust = options.trust;
    this.#client = this.#newClient();
  }

  get client(): NodeClient {
    return this.#client;
  }

  get identity(): AgentIdentity | undefined {
    return this.#identity;
  }

  /** Uses `identity` from now on: the next call proves possession of its key. */
  setIdentity(identity: AgentIdentity | undefined): void {
    this.#identity = identity;
    this.#proved = undefined;
  }

  /**
   * Trusts `bundle` for the server's certificate from now on. New calls go over a new channel;
   * the old one is closed a call deadline later, so a call running on it is not cut off.
   */
  setBundle(bundle: SpiffeBundle): void {
    if (this.#trust.kind === "bundle" && sameAuthorities(this.#trust.bundle, bundle)) {
      this.#trust = { kind: "bundle", bundle };
      return;
    }
    this.#trust = { kind: "bundle", bundle };
    const old = this.#client;
    this.#retired.add(old);
    this.#options.clock.setTimer(() => {
      this.#retired.delete(old);
      old.close();
    }, this.#callTimeoutMs);
    this.#client = this.#newClient();
    this.#socket = undefined;
    this.#proved = undefined;
  }

  /** Per-call options: the deadline, at most the caller's. */
  callOptions(timeoutMs = this.#callTimeoutMs): Partial<CallOptions> {
    return { deadline: new Date(Date.now() + timeoutMs) };
  }

  /**
   * Runs `call` on a proved connection. A call refused because the connection was not proved (it
   * reconnected under us) is proved again and retried once.
   */
  async authenticated<T>(
    call: (client: NodeClient) => Promise<T>,
    op: { signal?: AbortSignal } = {},
  ): Promise<T> {
    await this.prove(op);
    try {
      return await call(this.#client);
    } catch (err) {
      if (!(err instanceof NodeApiError) || err.serverCode !== "POP_REQUIRED") throw err;
      this.#proved = undefined;
      await this.prove(op);
      return call(this.#client);
    }
  }

  /** Proves possession on the current connection unless it already was, for the current identity. */
  async prove(op: { signal?: AbortSignal } = {}): Promise<void> {
    for (;;) {
      const identity = this.#requireIdentity();
      const proved = this.#proved;
      if (
        proved !== undefined &&
        proved.socket === this.#socket &&
        !proved.socket.destroyed &&
        proved.serial === identity.serial
      )
        return;
      if (this.#proving === undefined) {
        this.#proving = this.#proveOnce(op).finally(() => (this.#proving = undefined));
      }
      await this.#proving;
      throwIfAborted(op.signal, "proving possession of the agent key");
    }
  }

  close(): void {
    this.#client.close();
    for (const old of this.#retired) old.close();
    this.#retired.clear();
  }

  async #proveOnce(op: { signal?: AbortSignal }): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const identity = this.#requireIdentity();
      const client = this.#client;
      const started = this.#options.clock.nowMs();
      const challenge = await unaryCall<{ nonce: Buffer }>(
        (cb) => client.getPossessionChallenge({}, new Metadata(), this.callOptions(), cb),
        op.signal,
      );
      const socket = this.#socket;
      if (socket === undefined)
        throw new NodeApiError(14, undefined, "no TLS connection to prove possession on");
      const timestampMs = this.#options.clock.nowMs();
      const digest = possessionDigestFor({
        exporter: possessionExporter(socket),
        nonce: challenge.nonce,
        svidSerial: identity.serial,
        timestampMs,
      });
      const signature = await this.#options.signer.sign(identity.keyBlob, digest, op);
      try {
        await unaryCall(
          (cb) =>
            client.provePossession(
              {
                nonce: challenge.nonce,
                timestampMs,
                signature: signature.der,
                svidChain: [...identity.certChain],
              },
              new Metadata(),
              this.callOptions(),
              cb,
            ),
          op.signal,
        );
      } catch (err) {
        const raced =
          err instanceof NodeApiError && err.serverCode === "POP_NONCE_UNKNOWN" && socket !== this.#socket;
        if (!raced || attempt >= PROOF_ATTEMPTS) throw err;
        continue;
      }
      this.#proved = { socket, serial: identity.serial };
      this.#options.logger.debug(
        { agentId: identity.spiffeId.toString(), ms: this.#options.clock.nowMs() - started },
        "proved possession of the agent key on a new connection to the server",
      );
      return;
    }
  }

  #requireIdentity(): AgentIdentity {
    if (this.#identity === undefined)
      throw new NodeApiError(16, "POP_NO_AGENT_SVID", "the agent has no identity yet: attest first");
    return this.#identity;
  }

  get #callTimeoutMs(): number {
    return this.#options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  #newClient(): NodeClient {
    const onConnection = (socket: TLSSocket): void => {
      this.#socket = socket;
    };
    const trust = this.#trust;
    const credentials =
      trust.kind === "bundle"
        ? nodeApiCredentials(trust.bundle, this.#options.serverId, onConnection)
        : observingConnections(
            ChannelCredentials.createFromSecureContext(createSecureContext(), { rejectUnauthorized: false }),
            onConnection,
          );
    return new NodeClient(
      this.#options.target,
      credentials,
      channelOptions(this.#options.target, this.#options.serverId),
    );
  }
}

/**
 * The node API channel's options. A pool of its own: the channel's one connection is the one the
 * proof is bound to. And for a target given as an IP address, a TLS server name: grpc-js would send
 * the address as the SNI name, which RFC 6066 forbids (node warns, DEP0123, and will stop sending
 * it). The server ignores SNI and the agent checks the server's SPIFFE ID, not a name
 * (nodeApiCredentials), so the name is the trust domain's, a DNS-style name; a target given by
 * name keeps it, for whatever may route by SNI on the way.
 */
export function channelOptions(target: string, serverId: string): ChannelOptions {
  const options: ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };
  if (isIP(hostOf(target)) !== 0)
    options["grpc.ssl_target_name_override"] = SpiffeId.parse(serverId).trustDomain.name;
  return options;
}

/** The host of `host:port` (`[v6]:port`), or the whole target when it has no port. */
function hostOf(target: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(target);
  if (bracketed !== null) return bracketed[1] as string;
  const colon = target.lastIndexOf(":");
  return colon !== -1 && target.indexOf(":") === colon ? target.slice(0, colon) : target;
}

function sameAuthorities(a: SpiffeBundle, b: SpiffeBundle): boolean {
  return (
    a.x509Authorities.length === b.x509Authorities.length &&
    a.x509Authorities.every((der, i) => der.equals(b.x509Authorities[i] as Buffer))
  );
}
