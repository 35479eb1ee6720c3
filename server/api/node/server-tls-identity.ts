import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import type { experimental } from "@grpc/grpc-js";
import type { Clock, TimerHandle } from "../../../common/clock.js";
import type { Logger } from "../../../common/logging/logger.js";
import { errorMessage } from "../../../common/errors.js";
import { SpiffeId, type TrustDomain } from "../../../common/spiffe/index.js";
import { derToPem } from "../../../common/spiffe/bundle.js";
import type { CaManager } from "../../ca/index.js";

const generateEcKeyPair = promisify(generateKeyPair);

type Listener<T> = (update: T | null) => void;

export interface ServerTlsIdentityOptions {
  readonly ttlMs: number;
  /** DNS names on the certificate, besides the SPIFFE ID (the delegation endpoint's `dns_names`). */
  readonly dnsNames?: readonly string[];
  /** IP addresses on the certificate. */
  readonly ipAddresses?: readonly string[];
  /** What the certificate serves, for log lines (default "node API"). */
  readonly purpose?: string;
}

/** After a failed renewal, the next attempt (the current certificate is still good for half its life). */
const RETRY_MS = 10_000;

/**
 * What the node API's TLS presents, kept current: its own X509-SVID `spiffe://<td>/hallmark/server`
 * from the server's CA (a P-256 key made in memory at each renewal: it never leaves this process),
 * renewed at half-life. A grpc-js CertificateProvider, so a renewal reaches new connections without a
 * restart. It provides no CA: the server asks for no client certificate, since the agent's key sits
 * in its TPM where no TLS stack reaches it; agents prove themselves inside the connection instead
 * (server/node-auth/possession.ts). The delegation endpoint presents one too, with its DNS names and
 * IP address added, through `current` and the identity listeners (server/delegation/).
 */
export class ServerTlsIdentity implements experimental.CertificateProvider {
  readonly spiffeId: SpiffeId;
  #identity: experimental.IdentityCertificateUpdate | undefined;
  #notAfterMs = 0;
  readonly #identityListeners = new Set<Listener<experimental.IdentityCertificateUpdate>>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  private constructor(
    private readonly deps: { caManager: CaManager; trustDomain: TrustDomain; clock: Clock; logger: Logger },
    private readonly options: ServerTlsIdentityOptions,
  ) {
    this.spiffeId = SpiffeId.fromSegments(deps.trustDomain, "hallmark", "server");
  }

  static async start(
    deps: { caManager: CaManager; trustDomain: TrustDomain; clock: Clock; logger: Logger },
    options: ServerTlsIdentityOptions,
  ): Promise<ServerTlsIdentity> {
    const identity = new ServerTlsIdentity(deps, options);
    await identity.#renew();
    return identity;
  }

  /** The current certificate chain and key (PEM), for a TLS server that is not grpc-js. */
  get current(): experimental.IdentityCertificateUpdate {
    // start() renews before it returns the identity: there is always one.
    return this.#identity!;
  }

  /** The current certificate's expiry. */
  get notAfterMs(): number {
    return this.#notAfterMs;
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  addCaCertificateListener(): void {
    // No CA: see the class comment.
  }
  removeCaCertificateListener(): void {
    // No CA: see the class comment.
  }
  addIdentityCertificateListener(listener: Listener<experimental.IdentityCertificateUpdate>): void {
    this.#identityListeners.add(listener);
    // Later, not now: grpc-js registers its own watcher only after this returns, and would miss it.
    queueMicrotask(() => {
      if (this.#identityListeners.has(listener)) listener(this.#identity ?? null);
    });
  }
  removeIdentityCertificateListener(listener: Listener<experimental.IdentityCertificateUpdate>): void {
    this.#identityListeners.delete(listener);
  }

  async #renew(): Promise<void> {
    // Not generateKeyPairSync: its job is freed by the garbage collector under the key's mutex, and a
    // collection during an export of that key deadlocks Node 20; an async job is freed at once.
    const { publicKey, privateKey } = await generateEcKeyPair("ec", { namedCurve: "P-256" });
    const svid = await this.deps.caManager.issueX509Svid({
      spiffeId: this.spiffeId,
      publicKey,
      ttlMs: this.options.ttlMs,
      ...(this.options.dnsNames === undefined ? {} : { dnsNames: [...this.options.dnsNames] }),
      ...(this.options.ipAddresses === undefined ? {} : { ipAddresses: [...this.options.ipAddresses] }),
    });
    const chain = [svid.certificate, ...svid.intermediates].map((der) => derToPem(der, "CERTIFICATE"));
    this.#identity = {
      certificate: Buffer.from(chain.join("")),
      privateKey: Buffer.from(privateKey.export({ type: "pkcs8", format: "pem" })),
    };
    this.#notAfterMs = svid.notAfter.getTime();
    for (const listener of this.#identityListeners) listener(this.#identity);
    const lifeMs = svid.notAfter.getTime() - svid.notBefore.getTime();
    this.#schedule(svid.notBefore.getTime() + lifeMs / 2 - this.deps.clock.nowMs());
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#timer = this.deps.clock.setTimer(
      () => {
        this.#renew().catch((err: unknown) => {
          this.deps.logger.error(
            { err: errorMessage(err) },
            `renewing the ${this.options.purpose ?? "node API"}'s TLS certificate failed`,
          );
          this.#schedule(RETRY_MS);
        });
      },
      Math.max(0, delayMs),
    );
  }
}
