import type { DelegationConfig } from "../config/server-config.js";

/** `https://<first dns name>:<port>`: the tokens' `iss`, and the base of every endpoint path. */
export function issuerUrl(config: Pick<DelegationConfig, "dnsNames" | "bindPort">): string {
  return `https://${config.dnsNames[0] ?? ""}:${config.bindPort}`;
}

/** How often the revocation stream sends a heartbeat (docs/delegation.md). */
export const REVOCATIONS_HEARTBEAT_SECONDS = 5;

/** `GET /.well-known/openid-configuration`: the RFC 8414 fields the contract lists. */
export function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/introspect`,
    grant_types_supported: ["urn:ietf:params:oauth:grant-type:token-exchange"],
    token_endpoint_auth_methods_supported: ["none"],
    introspection_endpoint_auth_methods_supported: ["tls_client_auth"],
    hallmark_revocations_endpoint: `${issuer}/revocations`,
    hallmark_revocations_heartbeat_seconds: REVOCATIONS_HEARTBEAT_SECONDS,
  };
}
