import { InvalidSpiffeIdError, InvalidTrustDomainError } from "./errors.js";

const SCHEME = "spiffe://";
/** SPIFFE-ID spec: a SPIFFE ID is at most 2048 bytes, a trust domain name at most 255. */
const MAX_ID_LENGTH = 2048;
const MAX_TRUST_DOMAIN_LENGTH = 255;
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const PATH_SEGMENT_CHARS = /^[a-zA-Z0-9._-]+$/;

/** A SPIFFE trust domain name: lowercase letters, digits, `.`, `-`, `_`; no port, no userinfo. */
export class TrustDomain {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /** Accepts a bare name (`example.org`) or a SPIFFE ID of the trust domain (`spiffe://example.org`). */
  static parse(input: string): TrustDomain {
    if (input.startsWith(SCHEME)) {
      const id = SpiffeId.parse(input);
      if (!id.isRoot) throw new InvalidTrustDomainError(input, "a trust domain has no path");
      return id.trustDomain;
    }
    const reason = trustDomainProblem(input);
    if (reason !== undefined) throw new InvalidTrustDomainError(input, reason);
    return new TrustDomain(input);
  }

  /** `spiffe://<name>`: the ID of the trust domain itself, as the CA certificate carries it. */
  get id(): SpiffeId {
    return SpiffeId.parse(`${SCHEME}${this.name}`);
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

/** A parsed, valid SPIFFE ID (`spiffe://<trust domain><path>`), per the SPIFFE-ID specification. */
export class SpiffeId {
  readonly trustDomain: TrustDomain;
  /** `""` for the trust domain's own ID, otherwise `/seg/seg...`. */
  readonly path: string;

  private constructor(trustDomain: TrustDomain, path: string) {
    this.trustDomain = trustDomain;
    this.path = path;
  }

  /**
   * `trustDomains` (a SpiffeIdInterner) gives the TrustDomain object for the ID's (valid) trust
   * domain name, so that IDs parsed through it share one per name.
   */
  static parse(input: string, trustDomains?: { trustDomain(name: string): TrustDomain }): SpiffeId {
    if (input === "") throw new InvalidSpiffeIdError(input, "empty");
    if (Buffer.byteLength(input) > MAX_ID_LENGTH)
      throw new InvalidSpiffeIdError(input, `longer than ${MAX_ID_LENGTH} bytes`);
    if (!input.startsWith(SCHEME)) {
      const lower = input.toLowerCase();
      const reason = lower.startsWith(SCHEME)
        ? "the scheme must be lowercase spiffe://"
        : "the scheme must be spiffe://";
      throw new InvalidSpiffeIdError(input, reason);
    }
    const rest = input.slice(SCHEME.length);
    if (rest.includes("?")) throw new InvalidSpiffeIdError(input, "a query is not allowed");
    if (rest.includes("#")) throw new InvalidSpiffeIdError(input, "a fragment is not allowed");
    if (rest.includes("%")) throw new InvalidSpiffeIdError(input, "percent-encoding is not allowed");
    const slash = rest.indexOf("/");
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? "" : rest.slice(slash);
    if (authority.includes("@")) throw new InvalidSpiffeIdError(input, "userinfo is not allowed");
    if (authority.includes(":")) throw new InvalidSpiffeIdError(input, "a port is not allowed");
    const tdProblem = trustDomainProblem(authority);
    if (tdProblem !== undefined) throw new InvalidSpiffeIdError(input, tdProblem);
    const pathReason = pathProblem(path);
    if (pathReason !== undefined) throw new InvalidSpiffeIdError(input, pathReason);
    return new SpiffeId(trustDomains?.trustDomain(authority) ?? TrustDomain.parse(authority), path);
  }

  /** Builds `spiffe://<td>/<seg>/<seg>...`; each segment is checked, none may contain `/`. */
  static fromSegments(trustDomain: TrustDomain, ...segments: string[]): SpiffeId {
    return SpiffeId.parse(`${SCHEME}${trustDomain.name}${segments.map((s) => `/${s}`).join("")}`);
  }

  /** The ID of the trust domain itself (no path): not a workload's ID. */
  get isRoot(): boolean {
    return this.path === "";
  }

  memberOf(trustDomain: TrustDomain): boolean {
    return this.trustDomain.equals(trustDomain);
  }

  equals(other: SpiffeId): boolean {
    return this.toString() === other.toString();
  }

  toString(): string {
    return `${SCHEME}${this.trustDomain.name}${this.path}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function trustDomainProblem(name: string): string | undefined {
  if (name === "") return "the trust domain is empty";
  if (name.length > MAX_TRUST_DOMAIN_LENGTH)
    return `the trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`;
  if (!TRUST_DOMAIN_CHARS.test(name))
    return "the trust domain may contain only lowercase letters, digits, '.', '-' and '_'";
  return undefined;
}

function pathProblem(path: string): string | undefined {
  if (path === "") return undefined;
  if (path.endsWith("/")) return "the path must not end with '/'";
  for (const segment of path.slice(1).split("/")) {
    if (segment === "") return "the path must not contain empty segments";
    if (segment === "." || segment === "..") return "the path must not contain '.' or '..' segments";
    if (!PATH_SEGMENT_CHARS.test(segment))
      return "path segments may contain only letters, digits, '.', '-' and '_'";
  }
  return undefined;
}
