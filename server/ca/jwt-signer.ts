import type { Clock } from "../../common/clock.js";
import { throwIfAborted } from "../../common/errors.js";
import type { RandomSource } from "../../common/random.js";
import type { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { IssuanceError, checkSvidRequest } from "./issuance-error.js";
import type { SignatureScheme } from "../../native/pkcs11/index.js";
import type { KeyManager, KeyOperationOptions, ManagedKey } from "./key-manager.js";

export const DEFAULT_JWT_SVID_TTL_MS = 5 * 60 * 1000;

export type JwsAlgorithm = "ES256" | "ES384" | "RS256" | "PS256";

export interface JwtSvidRequest {
  spiffeId: SpiffeId;
  /** One or more audiences; a JWT-SVID without an audience is refused. */
  audience: string[];
  /** Lifetime; capped so the token never outlives its signing key. Default 5 min. */
  ttlMs?: number;
}

export interface IssuedJwtSvid {
  /** Compact JWS. */
  token: string;
  spiffeId: SpiffeId;
  keyId: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface JwtSvidSignerOptions {
  keyManager: KeyManager;
  key: ManagedKey;
  trustDomain: TrustDomain;
  clock: Clock;
  random: RandomSource;
  /** The key must not sign tokens that outlive this instant (the key leaves the bundle after it). */
  notAfterMs: number;
  /** RSA keys only: PS256 instead of RS256. */
  rsaPss?: boolean;
}

const ALGORITHMS: Record<ManagedKey["type"], [JwsAlgorithm, SignatureScheme]> = {
  "ec-p256": ["ES256", "ecdsa-sha256"],
  "ec-p384": ["ES384", "ecdsa-sha384"],
  "rsa-2048": ["RS256", "rsa-pkcs1-sha256"],
  "rsa-3072": ["RS256", "rsa-pkcs1-sha256"],
};

/**
 * Signs JWT-SVIDs with a key on the token. The JWS signing input is built here and signed by the token
 * directly (jose cannot sign with a key it cannot hold); ECDSA's raw r||s is already the JWS form.
 */
export class JwtSvidSigner {
  readonly key: ManagedKey;
  readonly algorithm: JwsAlgorithm;
  readonly notAfterMs: number;
  readonly #keyManager: KeyManager;
  readonly #scheme: SignatureScheme;
  readonly #trustDomain: TrustDomain;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  /** base64url of the protected header: the same for every token this key signs. */
  readonly #header: string;

  constructor(options: JwtSvidSignerOptions) {
    this.#keyManager = options.keyManager;
    this.key = options.key;
    this.#trustDomain = options.trustDomain;
    this.#clock = options.clock;
    this.#random = options.random;
    this.notAfterMs = options.notAfterMs;
    const [alg, scheme] = ALGORITHMS[options.key.type];
    const pss = options.rsaPss === true && alg === "RS256";
    this.algorithm = pss ? "PS256" : alg;
    this.#scheme = pss ? "rsa-pss-sha256" : scheme;
    this.#header = Buffer.from(
      JSON.stringify({ alg: this.algorithm, kid: this.key.id, typ: "JWT" }),
    ).toString("base64url");
  }

  get keyId(): string {
    return this.key.id;
  }

  /** `options.signal`: the caller's deadline, checked first and passed on to the key store. */
  async sign(request: JwtSvidRequest, options: KeyOperationOptions = {}): Promise<IssuedJwtSvid> {
    throwIfAborted(options.signal, "signing a JWT-SVID");
    const { spiffeId, audience } = request;
    if (audience.length === 0 || audience.some((a) => typeof a !== "string" || a === "")) {
      throw new IssuanceError("JWT_SVID_NO_AUDIENCE", "a JWT-SVID needs at least one non-empty audience", {
        category: "invalid_argument",
      });
    }
    const ttlMs = request.ttlMs ?? DEFAULT_JWT_SVID_TTL_MS;
    checkSvidRequest(spiffeId, this.#trustDomain, ttlMs);
    const now = this.#clock.nowMs();
    if (now >= this.notAfterMs) {
      throw new IssuanceError(
        "JWT_KEY_EXPIRED",
        `JWT signing key "${this.key.id}" expired at ${new Date(this.notAfterMs).toISOString()}`,
        { category: "failed_precondition" },
      );
    }
    const iat = Math.floor(now / 1000);
    const exp = Math.floor(Math.min(now + ttlMs, this.notAfterMs) / 1000);
    const claims = {
      sub: spiffeId.toString(),
      aud: audience,
      exp,
      iat,
      jti: this.#random.bytes(16).toString("hex"),
    };
    const signingInput = `${this.#header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    const signature = await this.#keyManager.sign(
      this.key,
      Buffer.from(signingInput, "latin1"),
      this.#scheme,
      options,
    );
    return {
      token: `${signingInput}.${signature.toString("base64url")}`,
      spiffeId,
      keyId: this.key.id,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(exp * 1000),
    };
  }
}
