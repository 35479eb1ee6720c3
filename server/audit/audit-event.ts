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
       * already audited as entry_* / agent_* that the datastore then refused (reason: its code, with
       * the same entryId or agentId): that change did not happen.
       */
      type: "admin_refused";
      method: string;
      reason: string;
      entryId?: string;
      agentId?: string;
      caller: AuditCaller;
    };

export type AuditEventType = AuditEvent["type"];
