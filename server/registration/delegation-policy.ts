import type { SpiffeId } from "../../common/spiffe/index.js";
import type { DelegationPolicy } from "../datastore/index.js";
import { RegistrationError } from "./registration-error.js";

/**
 * A delegation policy as an operator gives it: IDs still text. `maxDepth` absent means 1 (the
 * holder acts for users itself and passes nothing on).
 */
export interface DelegationRequest {
  readonly scopes: readonly string[];
  readonly audiences: readonly string[];
  readonly mayDelegateTo: readonly string[];
  readonly maxDepth?: number;
}

/**
 * Each hop nests one more `act` claim into the token (RFC 8693 §4.1), so the token and the work of
 * every verifier grow with the chain; and a chain longer than a few hops is one no person reviewing
 * the audit log can follow. Eight is well past any agent-to-sub-agent design seen so far.
 */
export const MAX_DELEGATION_DEPTH = 8;
export const MAX_POLICY_ITEMS = 64;
const MAX_AUDIENCE_LENGTH = 1024;
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** RFC 3986 scheme, followed by ':': what makes an audience a URI rather than a logical name. */
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Printable ASCII without space, the characters a form-encoded `audience` carries unambiguously. */
const PRINTABLE = /^[\x21-\x7e]+$/;

export interface DelegationContext {
  /** The entry the policy belongs to: it cannot delegate to itself. */
  readonly entryId: SpiffeId;
  readonly node: boolean;
  /** Parses an ID of this trust domain, refusing with the field named. */
  readonly parseId: (field: string, text: string) => SpiffeId;
  readonly isReserved: (id: SpiffeId) => boolean;
}

/** Checks a delegation policy's meaning; every refusal names the field at fault. */
export function checkDelegation(
  request: DelegationRequest | undefined,
  context: DelegationContext,
): DelegationPolicy | undefined {
  if (request === undefined) return undefined;
  if (context.node) {
    throw new RegistrationError(
      "DELEGATION_NOT_ALLOWED",
      "delegation",
      "a node-alias entry names agents, which never act for users: give the policy on the workload entry",
    );
  }
  const scopes = checkScopes(request.scopes);
  const audiences = checkAudiences(request.audiences);
  const maxDepth = checkMaxDepth(request.maxDepth ?? 1);
  const mayDelegateTo = checkDelegates(request.mayDelegateTo, context);
  if (mayDelegateTo.length > 0 && maxDepth === 1) {
    throw new RegistrationError(
      "CONTRADICTORY_DELEGATION",
      "delegation.max_depth",
      "max_depth 1 allows no sub-agent, yet may_delegate_to names some: give max_depth 2 or more",
    );
  }
  return { scopes, audiences, mayDelegateTo, maxDepth };
}

function checkList(field: string, values: readonly string[]): void {
  if (values.length === 0) {
    throw new RegistrationError(
      "INVALID_DELEGATION_POLICY",
      field,
      "give at least one: a policy without it allows nothing",
    );
  }
  if (values.length > MAX_POLICY_ITEMS) {
    throw new RegistrationError("INVALID_DELEGATION_POLICY", field, `more than ${MAX_POLICY_ITEMS}`);
  }
}

function refuseDuplicate(
  code: "INVALID_SCOPE" | "INVALID_AUDIENCE",
  field: string,
  seen: Set<string>,
  value: string,
): void {
  if (seen.has(value)) throw new RegistrationError(code, field, `${JSON.stringify(value)} is given twice`);
  seen.add(value);
}

function checkScopes(scopes: readonly string[]): readonly string[] {
  const field = "delegation.scopes";
  checkList(field, scopes);
  const seen = new Set<string>();
  for (const scope of scopes) {
    if (typeof scope !== "string" || !SCOPE_TOKEN.test(scope)) {
      throw new RegistrationError(
        "INVALID_SCOPE",
        field,
        `${JSON.stringify(scope)} is not an OAuth scope token (RFC 6749 §3.3: printable ASCII without space, '"' or '\\')`,
      );
    }
    refuseDuplicate("INVALID_SCOPE", field, seen, scope);
  }
  return [...seen];
}

/**
 * RFC 8693 §2.1 allows both: `resource` is an absolute URI without a fragment, `audience` a logical
 * name. A value with a scheme is held to the URI rules (so `https://api/x#y` cannot slip through as a
 * "name"); anything else is a logical name of printable ASCII.
 */
function checkAudiences(audiences: readonly string[]): readonly string[] {
  const field = "delegation.audiences";
  checkList(field, audiences);
  const seen = new Set<string>();
  for (const audience of audiences) {
    if (typeof audience !== "string" || audience.length > MAX_AUDIENCE_LENGTH || !PRINTABLE.test(audience)) {
      throw new RegistrationError(
        "INVALID_AUDIENCE",
        field,
        `${JSON.stringify(audience)} is not an audience (a URI or a name: 1 to ${MAX_AUDIENCE_LENGTH} printable ASCII characters without space)`,
      );
    }
    if (URI_SCHEME.test(audience)) checkAudienceUri(field, audience);
    refuseDuplicate("INVALID_AUDIENCE", field, seen, audience);
  }
  return [...seen];
}

function checkAudienceUri(field: string, audience: string): void {
  let url: URL;
  try {
    url = new URL(audience);
  } catch (err) {
    throw new RegistrationError(
      "INVALID_AUDIENCE",
      field,
      `${JSON.stringify(audience)} has a scheme but is not an absolute URI`,
      { cause: err },
    );
  }
  if (audience.includes("#") || url.hash !== "") {
    throw new RegistrationError(
      "INVALID_AUDIENCE",
      field,
      `${JSON.stringify(audience)} has a fragment, which RFC 8693 §2.1 forbids in a resource`,
    );
  }
}

function checkMaxDepth(maxDepth: number): number {
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1 || maxDepth > MAX_DELEGATION_DEPTH) {
    throw new RegistrationError(
      "MAX_DEPTH_OUT_OF_RANGE",
      "delegation.max_depth",
      `${String(maxDepth)} is outside 1..${MAX_DELEGATION_DEPTH}`,
    );
  }
  return maxDepth;
}

function checkDelegates(texts: readonly string[], context: DelegationContext): readonly SpiffeId[] {
  const field = "delegation.may_delegate_to";
  if (texts.length > MAX_POLICY_ITEMS) {
    throw new RegistrationError("INVALID_DELEGATION_POLICY", field, `more than ${MAX_POLICY_ITEMS}`);
  }
  const seen = new Map<string, SpiffeId>();
  for (const text of texts) {
    const id = context.parseId(field, text);
    const name = id.toString();
    if (id.path === "" || context.isReserved(id)) {
      throw new RegistrationError(
        "INVALID_DELEGATE",
        field,
        `${name} names no workload (the trust domain itself, or an agent or server ID of hallmark)`,
      );
    }
    if (id.equals(context.entryId)) {
      throw new RegistrationError(
        "INVALID_DELEGATE",
        field,
        `${name} is the entry's own SPIFFE ID: an agent passing a delegation to itself only lengthens the chain`,
      );
    }
    if (seen.has(name)) throw new RegistrationError("INVALID_DELEGATE", field, `${name} is given twice`);
    seen.set(name, id);
  }
  return [...seen.values()];
}

/**
 * Whether `next` allows anything `current` did not: a scope, an audience, a delegate, a longer
 * chain. Having no policy allows nothing, so any policy widens none.
 */
export function widens(current: DelegationPolicy | undefined, next: DelegationPolicy | undefined): boolean {
  if (next === undefined) return false;
  if (current === undefined) return true;
  const outside = (values: readonly string[], allowed: readonly string[]): boolean =>
    values.some((v) => !allowed.includes(v));
  return (
    next.maxDepth > current.maxDepth ||
    outside(next.scopes, current.scopes) ||
    outside(next.audiences, current.audiences) ||
    outside(
      next.mayDelegateTo.map((id) => id.toString()),
      current.mayDelegateTo.map((id) => id.toString()),
    )
  );
}
