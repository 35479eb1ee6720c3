import type { SpiffeId } from "../../common/spiffe/spiffe-id.js";

/**
 * What the cache asks of the server; the agent implements it over its proved node API connection.
 *
 * A call that cannot reach the server rejects with an error whose `category` is `unavailable` or
 * `deadline_exceeded` (a HallmarkError), or whose `code` is gRPC's UNAVAILABLE (14) or
 * DEADLINE_EXCEEDED (4): that is what health reports as `serverReachable: false`. Any other
 * rejection is the server refusing the whole call.
 */
export interface WorkloadSvidSource {
  /** 1 to 1000 items; each result carries its own status. */
  batchNewX509Svid(
    items: readonly { entryId: string; csr: Buffer }[],
    op?: { signal?: AbortSignal },
  ): Promise<readonly X509SvidResult[]>;
  newJwtSvid(
    entryId: string,
    audience: readonly string[],
    op?: { signal?: AbortSignal },
  ): Promise<{ spiffeId: SpiffeId; token: string; expiresAtMs: number }>;
}

export type X509SvidResult =
  | {
      entryId: string;
      ok: true;
      /** DER: the SVID first, then what chains it to a bundle root. */
      certChain: readonly Buffer[];
      serial: string;
      expiresAtMs: number;
    }
  | {
      entryId: string;
      ok: false;
      grpcCode: number;
      /** The server's typed error code (`ENTRY_NOT_AUTHORIZED`), when it sent one. */
      errorCode?: string;
      message: string;
    };
