// The server half for unit tests of the workload cache: the real CA code (CaManager: CSR parsing,
// X509-SVID and JWT-SVID issuance) on keys held in memory instead of a token, behind the
// WorkloadSvidSource interface, with the faults a test needs switched on by hand: unreachable,
// refusing, slow (held calls), or answering with the wrong certificate. test/node-api has the
// integration test against the real node API on SoftHSM2.
import { status } from "@grpc/grpc-js";
import type { ManualClock } from "../../../common/clock.js";
import { HallmarkError, abortError } from "../../../common/errors.js";
import { SeededRandom } from "../../../common/random.js";
import { SpiffeId } from "../../../common/spiffe/spiffe-id.js";
import { CaManager } from "../../../server/ca/index.js";
import { testCaOptions } from "../../../server/ca/testdata/ca-options.js";
import { MemoryKeyManager } from "../../../server/ca/testdata/memory-key-manager.js";
import { verifyCsr } from "../../../server/ca/csr.js";
import type { AgentEntry } from "../agent-entry.js";
import { makeSvidKey } from "../svid-key.js";
import type { WorkloadSvidSource, X509SvidResult } from "../workload-svid-source.js";

export class UnreachableError extends HallmarkError<"SERVER_UNREACHABLE"> {
  constructor() {
    super("SERVER_UNREACHABLE", "connection refused", { category: "unavailable" });
  }
}

/** One BatchNewX509SVID call as the server saw it. */
export interface SeenBatch {
  readonly entryIds: string[];
  /** The SPKI of each item's CSR (verified by the CA's parser), by entry id. */
  readonly keys: Map<string, Buffer>;
  readonly signal: AbortSignal | undefined;
}

interface Held {
  release(): void;
}

export class TestSvidServer implements WorkloadSvidSource {
  /** What the server knows of each entry (what the Sync stream sent); unknown ids are refused. */
  readonly entries = new Map<string, AgentEntry>();
  readonly batches: SeenBatch[] = [];
  readonly jwtCalls: { entryId: string; audience: readonly string[]; signal: AbortSignal | undefined }[] = [];
  /** While set, every call fails as if the connection were refused. */
  unreachable = false;
  /** Entry ids refused item by item, as the node API refuses one it does not authorize. */
  readonly refuse = new Set<string>();
  /** Entry ids answered with a certificate for another key than the CSR's. */
  readonly wrongKey = new Set<string>();
  /** While set, calls wait (after being recorded) until `release()`; a fired signal frees them. */
  holding = false;
  readonly #held: Held[] = [];
  #jwtTokens = 0;

  private constructor(
    readonly ca: CaManager,
    readonly clock: ManualClock,
  ) {}

  static async start(
    clock: ManualClock,
    ttl: { x509Ms?: number; jwtMs?: number } = {},
  ): Promise<TestSvidServer> {
    const ca = await CaManager.start(
      testCaOptions({
        keyManager: new MemoryKeyManager(),
        clock,
        random: new SeededRandom(7),
        x509SvidTtlMs: ttl.x509Ms ?? 3_600_000,
        jwtSvidTtlMs: ttl.jwtMs ?? 300_000,
        // Long enough that no test walks into a CA rotation.
        caTtlMs: 30 * 24 * 3_600_000,
      }),
    );
    return new TestSvidServer(ca, clock);
  }

  stop(): Promise<void> {
    return this.ca.stop();
  }

  /** Lets every held call go on. */
  release(): void {
    for (const held of this.#held.splice(0)) held.release();
  }

  get heldCalls(): number {
    return this.#held.length;
  }

  async batchNewX509Svid(
    items: readonly { entryId: string; csr: Buffer }[],
    op: { signal?: AbortSignal } = {},
  ): Promise<readonly X509SvidResult[]> {
    const seen: SeenBatch = { entryIds: items.map((i) => i.entryId), keys: new Map(), signal: op.signal };
    this.batches.push(seen);
    for (const item of items) seen.keys.set(item.entryId, (await verifyCsr(item.csr)).spki.der);
    await this.#maybeHold(op.signal, "BatchNewX509SVID");
    if (this.unreachable) throw new UnreachableError();
    const results: X509SvidResult[] = [];
    for (const item of items) {
      const entry = this.entries.get(item.entryId);
      if (entry === undefined || this.refuse.has(item.entryId)) {
        results.push({
          entryId: item.entryId,
          ok: false,
          grpcCode: status.PERMISSION_DENIED,
          errorCode: "ENTRY_NOT_AUTHORIZED",
          message: "the entry is not authorized for this agent",
        });
        continue;
      }
      const csr = this.wrongKey.has(item.entryId) ? await otherCsr() : item.csr;
      const issued = await this.ca.issueX509Svid({
        spiffeId: entry.spiffeId,
        csr,
        dnsNames: [...entry.dnsNames],
        ...(entry.x509SvidTtlSeconds > 0 ? { ttlMs: entry.x509SvidTtlSeconds * 1000 } : {}),
      });
      results.push({
        entryId: item.entryId,
        ok: true,
        certChain: [issued.certificate, ...issued.intermediates],
        serial: issued.serial,
        expiresAtMs: issued.notAfter.getTime(),
      });
    }
    return results;
  }

  async newJwtSvid(
    entryId: string,
    audience: readonly string[],
    op: { signal?: AbortSignal } = {},
  ): Promise<{ spiffeId: SpiffeId; token: string; expiresAtMs: number }> {
    this.jwtCalls.push({ entryId, audience, signal: op.signal });
    await this.#maybeHold(op.signal, "NewJWTSVID");
    if (this.unreachable) throw new UnreachableError();
    const entry = this.entries.get(entryId);
    if (entry === undefined || this.refuse.has(entryId))
      throw new HallmarkError("ENTRY_NOT_AUTHORIZED", "the entry is not authorized for this agent", {
        category: "permission_denied",
      });
    const issued = await this.ca.signJwtSvid({
      spiffeId: entry.spiffeId,
      audience: [...audience],
      ...(entry.jwtSvidTtlSeconds > 0 ? { ttlMs: entry.jwtSvidTtlSeconds * 1000 } : {}),
    });
    this.#jwtTokens++;
    return { spiffeId: issued.spiffeId, token: issued.token, expiresAtMs: issued.expiresAt.getTime() };
  }

  get jwtTokensIssued(): number {
    return this.#jwtTokens;
  }

  async #maybeHold(signal: AbortSignal | undefined, doing: string): Promise<void> {
    if (!this.holding) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortError(signal as AbortSignal, doing));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#held.push({
        release: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      });
    });
  }
}

async function otherCsr(): Promise<Buffer> {
  return (await makeSvidKey()).csr;
}

/** An entry as the Sync stream would send it; `overrides` change what a test is about. */
export function testEntry(id: string, overrides: Partial<AgentEntry> = {}): AgentEntry {
  return {
    id,
    spiffeId: SpiffeId.parse(`spiffe://example.org/workload/${id}`),
    parentId: SpiffeId.parse("spiffe://example.org/hallmark/agent/tpm/abc"),
    selectors: [{ type: "unix", value: "uid:1000" }],
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    hint: "",
    admin: false,
    revision: 1,
    ...overrides,
  };
}
