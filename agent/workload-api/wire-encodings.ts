import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { jwtAuthoritiesAsJwks } from "../../common/spiffe/bundle.js";
import type { X509SvidWithKey } from "../cache/index.js";

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
