import {
  CompactSign,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWTHeaderParameters,
} from "jose";
import type { Clock } from "../../common/clock.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { DELEGATION_TOKEN_TYPE, type ActClaim, type DelegationClaims } from "../delegation-token.js";

/**
 * Issues delegation tokens exactly as docs/delegation.md says the server will, with a software
 * key, so that the verifier is tested against the contract before the server side exists.
 * Tests only: the real issuer signs in the HSM.
 */
export interface IssueRequest {
  user: string;
  /** The agent receiving this token (the new act.sub). */
  actor: string;
  scope: string;
  audience: string | string[];
  /** The delegation token this one is exchanged from (a sub-agent hop). */
  parent?: IssuedToken;
  ttlSeconds?: number;
  /** Claims to set or (with undefined) remove after the contract's claims are built. */
  override?: Record<string, unknown>;
}

export interface IssuedToken {
  readonly token: string;
  readonly claims: DelegationClaims;
}

export class TestIssuer {
  readonly issuer: string;
  readonly jwks: JSONWebKeySet;
  readonly alg: "ES256" | "ES384";
  readonly #privateKey: CryptoKey;
  readonly #kid: string;
  readonly #clock: Clock;
  readonly #random: RandomSource;

  private constructor(
    issuer: string,
    alg: "ES256" | "ES384",
    privateKey: CryptoKey,
    jwks: JSONWebKeySet,
    kid: string,
    clock: Clock,
    random: RandomSource,
  ) {
    this.issuer = issuer;
    this.alg = alg;
    this.#privateKey = privateKey;
    this.jwks = jwks;
    this.#kid = kid;
    this.#clock = clock;
    this.#random = random;
  }

  static async create(
    issuer: string,
    clock: Clock,
    options: { alg?: "ES256" | "ES384"; kid?: string; random?: RandomSource } = {},
  ): Promise<TestIssuer> {
    const alg = options.alg ?? "ES256";
    const kid = options.kid ?? `test-${alg.toLowerCase()}`;
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
    return new TestIssuer(
      issuer,
      alg,
      privateKey,
      { keys: [jwk] },
      kid,
      clock,
      options.random ?? cryptoRandom,
    );
  }

  async issue(request: IssueRequest): Promise<IssuedToken> {
    const now = Math.floor(this.#clock.nowMs() / 1000);
    const parent = request.parent?.claims;
    const ttl = request.ttlSeconds ?? 300;
    const act: ActClaim =
      parent === undefined ? { sub: request.actor } : { sub: request.actor, act: parent.act };
    const claims: Record<string, unknown> = {
      iss: this.issuer,
      sub: request.user,
      aud: request.audience,
      scope: request.scope,
      client_id: request.actor,
      act,
      iat: now,
      nbf: now,
      exp: Math.min(now + ttl, parent?.exp ?? Number.POSITIVE_INFINITY),
      jti: this.#id(),
      hallmark_chain: parent?.hallmark_chain ?? this.#id(),
      hallmark_depth: (parent?.hallmark_depth ?? 0) + 1,
      hallmark_ancestors: parent === undefined ? [] : [...parent.hallmark_ancestors, parent.jti],
    };
    for (const [name, value] of Object.entries(request.override ?? {}))
      if (value === undefined) delete claims[name];
      else claims[name] = value;
    return { token: await this.sign(claims), claims: claims as unknown as DelegationClaims };
  }

  /** Signs any claims with this issuer's key; `header` replaces parts of the contract's header. */
  async sign(claims: Record<string, unknown>, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: this.alg, typ: DELEGATION_TOKEN_TYPE, kid: this.#kid, ...header })
      .sign(this.#privateKey);
  }

  /** Signs arbitrary bytes as the payload (for tokens whose payload is not even JSON). */
  async signBytes(payload: Uint8Array): Promise<string> {
    return new CompactSign(payload)
      .setProtectedHeader({ alg: this.alg, typ: DELEGATION_TOKEN_TYPE, kid: this.#kid })
      .sign(this.#privateKey);
  }

  #id(): string {
    return this.#random.bytes(16).toString("base64url");
  }
}
