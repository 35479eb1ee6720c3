import type { Logger } from "../../common/logging/logger.js";
import { errorMessage } from "../../common/errors.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { Publisher, type Listener, type Subscription } from "../../common/subscription.js";
import { PUBLISHED, type Slot } from "./ca-slot.js";
import type { UpstreamAuthority } from "./upstream-authority.js";

export interface BundlePublisherOptions {
  trustDomain: TrustDomain;
  refreshHintSeconds: number;
  upstream: UpstreamAuthority | undefined;
  /** spiffe_sequence of the bundle last published (from the key journal). */
  sequence: number;
  /** Told when a subscriber fails; the failure goes no further. */
  logger: Logger;
}

/**
 * The trust bundle over time: built from the CA's published keys, numbered, and handed to subscribers
 * through a Publisher, which gives each the current bundle at once and then every change. A subscriber
 * that throws or is slow is logged and skipped: it never reaches another subscriber, and never the
 * rotation that published the bundle.
 */
export class BundlePublisher {
  readonly #options: BundlePublisherOptions;
  readonly #publisher: Publisher<SpiffeBundle>;
  #sequence: number;
  /** The contents have changed (and the sequence gone up) since the last publication. */
  #unpublished = false;

  constructor(options: BundlePublisherOptions, slots: readonly Slot[]) {
    this.#options = options;
    this.#sequence = options.sequence;
    this.#publisher = new Publisher<SpiffeBundle>({
      initial: this.#build(slots),
      onListenerError: (err) =>
        options.logger.warn({ err: errorMessage(err) }, "a trust bundle subscriber failed; it is skipped"),
    });
  }

  /** The bundle last published. */
  get current(): SpiffeBundle {
    // Set at construction, so never undefined.
    return this.#publisher.current!;
  }

  /** The sequence the next journal write records: the published one, or the one about to be published. */
  get sequence(): number {
    return this.#sequence;
  }

  /**
   * The bundle's contents are about to change: spiffe_sequence goes up once per publication, before the
   * journal write that records the change, so a saved journal never pairs new contents with an old sequence.
   */
  changing(): void {
    if (this.#unpublished) return;
    this.#unpublished = true;
    this.#sequence++;
  }

  /** Publishes the bundle of `slots` if its contents changed since the last publication. */
  publishIfChanged(slots: readonly Slot[]): void {
    if (!this.#unpublished) return;
    this.#unpublished = false;
    this.#publisher.publish(this.#build(slots));
  }

  subscribe(listener: Listener<SpiffeBundle>): Subscription {
    return this.#publisher.subscribe(listener);
  }

  values(signal?: AbortSignal): AsyncIterableIterator<SpiffeBundle> {
    return this.#publisher.values(signal);
  }

  #build(slots: readonly Slot[]): SpiffeBundle {
    const { trustDomain, refreshHintSeconds, upstream } = this.#options;
    return bundleOf(slots, { trustDomain, sequence: this.#sequence, refreshHintSeconds }, upstream);
  }
}

/** The SPIFFE bundle for the published slots: the upstream's roots or our CA certificates, and the JWT keys. */
export function bundleOf(
  slots: readonly Slot[],
  bundle: Pick<SpiffeBundle, "trustDomain" | "sequence" | "refreshHintSeconds">,
  upstream: UpstreamAuthority | undefined,
): SpiffeBundle {
  const published = slots
    .filter((s) => PUBLISHED.has(s.record.status))
    .sort((a, b) => a.record.notBeforeMs - b.record.notBeforeMs);
  return {
    ...bundle,
    x509Authorities:
      upstream?.roots ??
      published
        .filter((s) => s.record.kind === "x509")
        .map((s) => Buffer.from(s.record.certificate ?? "", "base64")),
    jwtAuthorities: published.flatMap((s) =>
      s.record.kind === "jwt" && s.publicKey !== undefined
        ? [{ keyId: s.record.keyId, publicKey: s.publicKey }]
        : [],
    ),
  };
}
