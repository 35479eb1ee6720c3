import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { jwtAuthoritiesAsJwks } from "../../common/spiffe/bundle.js";
import type { X509SvidWithKey } from "../cache/index.js";
import { EncodedMessage } from "./encoded-message.js";

/**
 * The byte forms the Workload API sends, made once per immutable object and shared by every stream
 * and message that carries it: a rotation or a bundle change reaching 1,000 open streams
 * concatenates each chain and bundle once, not 1,000 times. Keyed weakly: an SVID or bundle the
 * cache dropped takes its encodings with it.
 */
export class WireEncodings {
  readonly #chains = new WeakMap<X509SvidWithKey, Buffer>();
  readonly #x509Bundles = new WeakMap<SpiffeBundle, Buffer>();
  readonly #jwtBundles = new WeakMap<SpiffeBundle, Buffer>();
  /** The last message encoded for each first SVID (or bundle form), with what it was made of. */
  readonly #messages = new WeakMap<object, { fingerprint: readonly unknown[]; message: EncodedMessage }>();

  /** `x509_svid`: the DER certificates concatenated, the SVID first. */
  chain(svid: X509SvidWithKey): Buffer {
    return memo(this.#chains, svid, () => Buffer.concat(svid.certChain));
  }

  /** The trust domain's X.509 authorities as concatenated DER (`bundle`, and the value of `bundles`). */
  x509Bundle(bundle: SpiffeBundle): Buffer {
    return memo(this.#x509Bundles, bundle, () => Buffer.concat(bundle.x509Authorities));
  }

  /**
   * The JWT authorities as a standard JWK Set: only jwt-svid keys, each with its `kid`, no `use` and
   * no SPIFFE members, as SPIRE serves it (what go-spiffe's and py-spiffe's JWT bundle parsers and any
   * JOSE library read).
   */
  jwtBundle(bundle: SpiffeBundle): Buffer {
    return memo(this.#jwtBundles, bundle, () => Buffer.from(JSON.stringify(jwtAuthoritiesAsJwks(bundle))));
  }

  /**
   * A whole response in its wire form, shared by every stream that sends the same one: `key` is an
   * immutable object the message is about (its first SVID, or the bundle bytes), `fingerprint`
   * what makes it, and `encode` makes the bytes on a miss. Keeps the latest message per key, which
   * is the one every stream of those callers is about to send.
   */
  message<Res>(key: object, fingerprint: readonly unknown[], encode: () => Uint8Array): EncodedMessage<Res> {
    const last = this.#messages.get(key);
    // One message type per key: an SVID keys FetchX509SVID messages, a bundle form its stream's.
    if (last !== undefined && sameFingerprint(last.fingerprint, fingerprint))
      return last.message as EncodedMessage<Res>;
    const bytes = encode();
    const message = new EncodedMessage<Res>(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.#messages.set(key, { fingerprint, message });
    return message;
  }
}

/** Equal fingerprints mean equal messages (a message's parts, in order, by identity or bytes). */
export function sameFingerprint(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    // A new bundle object with the same certificates is not a change (a resync may send one).
    if (!(Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y))) return false;
  }
  return true;
}

function memo<K extends object>(cache: WeakMap<K, Buffer>, key: K, make: () => Buffer): Buffer {
  let value = cache.get(key);
  if (value === undefined) cache.set(key, (value = make()));
  return value;
}

/** `spiffe://<trust domain>`: how the Workload API keys bundles. */
export function bundleKey(bundle: SpiffeBundle): string {
  return bundle.trustDomain.id.toString();
}
