import { errorMessage, isHallmarkError } from "../../common/errors.js";
import type { AuditSink } from "../audit/audit-log.js";
import type { AuditCaller } from "../audit/audit-event.js";
import type { CaManager, IssuedJwtSvid, IssuedX509Svid } from "../ca/index.js";
import type { RegistrationEntry } from "../datastore/index.js";
import type { AuthorizationView } from "../registration/authorization-view.js";
import { NodeRequestError } from "../node-auth/node-request-error.js";

export interface SvidIssuerDeps {
  readonly caManager: CaManager;
  readonly view: AuthorizationView;
  readonly audit: AuditSink;
  readonly defaultX509SvidTtlMs: number;
  readonly defaultJwtSvidTtlMs: number;
}

/**
 * Workload SVIDs for an authenticated agent: only for entries the authorization view says it may
 * issue (an unknown entry and a foreign one are refused alike, so an agent cannot probe for IDs),
 * with the entry's TTL or the server's default. Every issuance and every refusal is audited.
 */
export class SvidIssuer {
  constructor(private readonly deps: SvidIssuerDeps) {}

  /** The CSR's key becomes the SVID's key; the SPIFFE ID and DNS names come from the entry, never the CSR. */
  async issueX509(
    agentId: string,
    entryId: string,
    csr: Buffer,
    caller: AuditCaller,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ entry: RegistrationEntry; svid: IssuedX509Svid }> {
    const entry = this.#authorizedEntry(agentId, entryId, caller);
    try {
      const svid = await this.deps.caManager.issueX509Svid(
        {
          spiffeId: entry.spiffeId,
          csr,
          ttlMs: entry.x509SvidTtlMs ?? this.deps.defaultX509SvidTtlMs,
          dnsNames: [...entry.dnsNames],
        },
        options,
      );
      this.deps.audit.record({
        type: "svid_issued",
        svidType: "x509",
        spiffeId: entry.spiffeId.toString(),
        entryId: entry.id,
        serial: svid.serial,
        expiresAt: svid.notAfter.toISOString(),
        agentId,
      });
      return { entry, svid };
    } catch (err) {
      this.#refused(err, entry, caller);
      throw err;
    }
  }

  async issueJwt(
    agentId: string,
    entryId: string,
    audience: readonly string[],
    caller: AuditCaller,
    options: { signal?: AbortSignal } = {},
  ): Promise<IssuedJwtSvid> {
    const entry = this.#authorizedEntry(agentId, entryId, caller);
    try {
      const svid = await this.deps.caManager.signJwtSvid(
        {
          spiffeId: entry.spiffeId,
          audience: [...audience],
          ttlMs: entry.jwtSvidTtlMs ?? this.deps.defaultJwtSvidTtlMs,
        },
        options,
      );
      this.deps.audit.record({
        type: "svid_issued",
        svidType: "jwt",
        spiffeId: entry.spiffeId.toString(),
        entryId: entry.id,
        audience: [...audience],
        expiresAt: svid.expiresAt.toISOString(),
        agentId,
      });
      return svid;
    } catch (err) {
      this.#refused(err, entry, caller);
      throw err;
    }
  }

  #authorizedEntry(agentId: string, entryId: string, caller: AuditCaller): RegistrationEntry {
    const entry = this.deps.view.entry(entryId);
    if (entry === undefined || !this.deps.view.isAuthorized(agentId, entryId)) {
      const err = new NodeRequestError(
        "ENTRY_NOT_AUTHORIZED",
        `entry ${JSON.stringify(entryId)} is not authorized for ${agentId}`,
      );
      this.deps.audit.record({
        type: "svid_refused",
        reason: err.code,
        ...(entry === undefined ? {} : { spiffeId: entry.spiffeId.toString() }),
        caller: { ...caller, agentId },
      });
      throw err;
    }
    return entry;
  }

  #refused(err: unknown, entry: RegistrationEntry, caller: AuditCaller): void {
    this.deps.audit.record({
      type: "svid_refused",
      reason: isHallmarkError(err) ? `${err.code}: ${errorMessage(err)}` : "INTERNAL",
      spiffeId: entry.spiffeId.toString(),
      caller,
    });
  }
}
