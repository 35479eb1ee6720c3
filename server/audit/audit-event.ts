/**
 * What the audit log records: every security decision, one JSON line each. The shapes are a
 * contract with whoever reads the file (a SIEM, `jq`), so each event is a closed type and no event
 * carries a secret (keys, tokens, PINs never fit into these fields).
 */

/** Who asked, as the kernel says (admin API) or as the network says (node API). */
export interface AuditCaller {
  uid?: number;
  pid?: number;
  /** The agent's SPIFFE ID, for node API calls made with an agent SVID. */
  agentId?: string;
  /** Remote address, for network callers. */
  address?: string;
}

export interface AuditDelegationPolicy {
  scopes: readonly string[];
  audiences: readonly string[];
  mayDelegateTo: readonly string[];
  maxDepth: number;
}

export type AuditEvent =
  | AuditDelegationEvent
  | {
      type: "attestation";
      result: "accepted" | "refused";
      agentId?: string;
      ekHash?: string;
      /** The typed error code of a refusal. */
      reason?: string;
      detail?: string;
      caller?: AuditCaller;
    }
  | {
      type: "svid_issued";
      svidType: "x509" | "jwt";
      spiffeId: string;
      entryId?: string;
      serial?: string;
      audience?: readonly string[];
      expiresAt: string;
      agentId: string;
    }
  | {
      type: "entry_created" | "entry_updated" | "entry_deleted";
      entryId: string;
      spiffeId: string;
      parentId: string;
      /** The entry's delegation policy as written (absent: none). */
      delegation?: AuditDelegationPolicy;
      caller: AuditCaller;
    }
  | {
      type: "agent_banned" | "agent_unbanned" | "agent_evicted";
      agentId: string;
      caller: AuditCaller;
    }
  | { type: "pop_refused"; reason: string; detail?: string; caller: AuditCaller }
  | { type: "svid_refused"; reason: string; spiffeId?: string; caller: AuditCaller }
  | {
      /**
       * An admin call refused: the caller is not allowed (reason CALLER_NOT_ALLOWED), or a write
       * already audited as entry_* / agent_* / elevation_* that the datastore then refused (reason: its
       * code, with the same entryId, agentId or requestId): that change did not happen.
       */
      type: "admin_refused";
      method: string;
      reason: string;
      entryId?: string;
      agentId?: string;
      /** An elevation decision (approve/deny) the datastore refused after it was audited. */
      requestId?: string;
      caller: AuditCaller;
    };

/** Who a delegation is about: the user, the actors (current first), and what it holds. */
export interface AuditDelegation {
  subject?: string;
  /** The actor chain, current actor first. */
  actors?: readonly string[];
  scopes?: readonly string[];
  audiences?: readonly string[];
  jti?: string;
  chainId?: string;
  depth?: number;
}

/** Delegation (issue 17): never the token itself, only what it says. */
export type AuditDelegationEvent =
  | ({ type: "delegation_issued"; expiresAt: string; elevationId?: string } & AuditDelegation)
  | ({
      type: "delegation_refused";
      /** The RFC 6749 / 8693 error answered (invalid_grant, invalid_scope, ...). */
      error: string;
      /** hallmark's typed code for why. */
      reason: string;
      detail?: string;
      caller?: AuditCaller;
    } & AuditDelegation)
  | ({
      type: "elevation_requested" | "elevation_approved" | "elevation_denied";
      requestId: string;
      /** Approved: until when the approval holds. */
      approvedUntil?: string;
      note?: string;
      caller?: AuditCaller;
    } & AuditDelegation)
  | {
      type: "delegation_revoked";
      kind: "jti" | "chain" | "agent" | "subject";
      value: string;
      /**
       * Absent: the line is written before the datastore commits (and so before it gives the id), so
       * that a revocation the log cannot record is not made.
       */
      revocationId?: number;
      expiresAt: string;
      caller: AuditCaller;
    }
  | ({
      /** A verification the server made (introspection) that refused a token. */
      type: "delegation_verification_refused";
      reason: string;
      caller?: AuditCaller;
    } & AuditDelegation);

export type AuditEventType = AuditEvent["type"];
