import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { JWTBundlesResponse, X509BundlesResponse, X509SVIDResponse } from "../../proto/gen/workload.js";
import type { AgentEntry, CachedEntry, X509SvidWithKey } from "../cache/index.js";
import type { EncodedMessage } from "./encoded-message.js";
import { bundleKey, type WireEncodings } from "./wire-encodings.js";

/** What a stream should do now, given the caller's matching entries and the bundle. */
export type ViewOutcome<Res> =
  /** No entry matches the caller: PERMISSION_DENIED ends the stream. */
  | { readonly kind: "deny" }
  /** Nothing to send yet (no SVID of the caller's has arrived, or no bundle): stay open. */
  | { readonly kind: "wait" }
  | {
      readonly kind: "send";
      /** false: some matching entry has no SVID yet, so a first message may wait briefly for it. */
      readonly complete: boolean;
      /** Equal fingerprints mean equal messages: a refresh that finds the same one sends nothing. */
      readonly fingerprint: readonly unknown[];
      /** The message in its wire form, shared with every stream sending the same one. */
      message(): EncodedMessage<Res>;
    };

export type StreamView<Res> = (
  matches: readonly CachedEntry[],
  bundle: SpiffeBundle | undefined,
) => ViewOutcome<Res>;

const DENY = { kind: "deny" } as const;
const WAIT = { kind: "wait" } as const;

interface ServedEntry {
  readonly entry: AgentEntry;
  readonly svid: X509SvidWithKey;
}

/**
 * The spec: a non-empty hint is unique within a response. Of entries sharing one, the first in
 * entry-id order is kept (SPIRE keeps the oldest entry; the agent's entries carry no creation time).
 */
export function withUniqueHints<T extends { readonly entry: AgentEntry }>(items: readonly T[]): T[] {
  const hints = new Set<string>();
  return items.filter(({ entry: { hint } }) => {
    if (hint === "") return true;
    if (hints.has(hint)) return false;
    hints.add(hint);
    return true;
  });
}

/**
 * FetchX509SVID: every SVID of every matching entry that holds one (entry-id order, one per hint),
 * each with its key, hint and the bundle; `federated_bundles` present and empty. A message with no
 * SVID is never sent (the spec requires at least one): while none has arrived the stream waits.
 */
export function x509SvidView(encodings: WireEncodings): StreamView<X509SVIDResponse> {
  const encode = (message: X509SVIDResponse): Uint8Array => X509SVIDResponse.encode(message).finish();
  return (matches, bundle) => {
    if (matches.length === 0) return DENY;
    const withSvid = matches.filter((m): m is ServedEntry => m.svid !== undefined);
    if (withSvid.length === 0 || bundle === undefined) return WAIT;
    const served = withUniqueHints(withSvid);
    const bundleDer = encodings.x509Bundle(bundle);
    const fingerprint: unknown[] = [bundleDer];
    for (const { entry, svid } of served) fingerprint.push(svid, entry.hint, entry.spiffeId.toString());
    return {
      kind: "send",
      complete: withSvid.length === matches.length,
      fingerprint,
      message: () =>
        encodings.message(served[0]!.svid, fingerprint, () =>
          encode({
            svids: served.map(({ entry, svid }) => ({
              spiffeId: entry.spiffeId.toString(),
              x509Svid: encodings.chain(svid),
              x509SvidKey: svid.pkcs8PrivateKey,
              bundle: bundleDer,
              hint: entry.hint,
            })),
            crl: [],
            federatedBundles: {},
          }),
        ),
    };
  };
}

/**
 * A bundle stream: the trust domain's bundle in one form, keyed by `spiffe://<td>`, to a caller some
 * entry matches (as SPIRE: the bundles go to workloads with an identity).
 */
function bundleView<Res>(
  encodings: WireEncodings,
  form: (bundle: SpiffeBundle) => Buffer,
  encode: (bundles: { [td: string]: Buffer }) => Uint8Array,
): StreamView<Res> {
  return (matches, bundle) => {
    if (matches.length === 0) return DENY;
    if (bundle === undefined) return WAIT;
    const bytes = form(bundle);
    const fingerprint = [bytes];
    return {
      kind: "send",
      complete: true,
      fingerprint,
      message: () => encodings.message(bytes, fingerprint, () => encode({ [bundleKey(bundle)]: bytes })),
    };
  };
}

/** FetchX509Bundles: the X.509 authorities as concatenated DER. */
export function x509BundlesView(encodings: WireEncodings): StreamView<X509BundlesResponse> {
  return bundleView(
    encodings,
    (bundle) => encodings.x509Bundle(bundle),
    (bundles) => X509BundlesResponse.encode({ crl: [], bundles }).finish(),
  );
}

/** FetchJWTBundles: the JWT authorities as a JWK Set. */
export function jwtBundlesView(encodings: WireEncodings): StreamView<JWTBundlesResponse> {
  return bundleView(
    encodings,
    (bundle) => encodings.jwtBundle(bundle),
    (bundles) => JWTBundlesResponse.encode({ bundles }).finish(),
  );
}

export { sameFingerprint } from "./wire-encodings.js";
