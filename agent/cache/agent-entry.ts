import type { Selector } from "../../common/selector.js";
import type { SpiffeId } from "../../common/spiffe/index.js";

/** The agent's view of one registration entry it may issue (from the server's Sync stream). */
export interface AgentEntry {
  readonly id: string;
  readonly spiffeId: SpiffeId;
  readonly parentId: SpiffeId;
  readonly selectors: readonly Selector[];
  /** 0: the server's default. */
  readonly x509SvidTtlSeconds: number;
  readonly jwtSvidTtlSeconds: number;
  readonly dnsNames: readonly string[];
  readonly hint: string;
  readonly admin: boolean;
  readonly revision: number;
}
