/**
 * A stand-in SPIFFE Workload API server for tests of the client side (`hallmark-agent api`, the
 * go-spiffe and py-spiffe interop programs) until they run against the agent itself: grpc-js on a
 * real unix socket, serving real certificates (test-pki.ts, made by openssl) and real ES256
 * JWT-SVIDs. What it serves is set by the test; it answers as the specification says: the
 * `workload.spiffe.io: true` header or InvalidArgument, PermissionDenied when it has no identity to
 * give (also on open streams), a new FetchX509SVID message on every change.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type Metadata,
  type ServerWritableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { SignJWT, jwtVerify } from "jose";
import { serializeBundle } from "../../../common/spiffe/bundle.js";
import { TrustDomain } from "../../../common/spiffe/spiffe-id.js";
import { fixtureTempRoot, trackTempDir } from "../../../test/fixtures/processes.js";
import {
  SpiffeWorkloadAPIService,
  type SpiffeWorkloadAPIServer,
  type X509SVIDRequest,
  type X509SVIDResponse,
} from "../../../proto/gen/workload.js";
import { issueSvid, makeTestPki, type TestPki, type TestSvid } from "./test-pki.js";

export interface ServedSvid {
  readonly svid: TestSvid;
  readonly hint?: string;
}

/** What the server hands every caller: its SVIDs (none: PermissionDenied) and federated bundles. */
export interface ServedIdentity {
  readonly svids: readonly ServedSvid[];
  readonly federatedBundles?: Readonly<Record<string, readonly Buffer[]>>;
}

export interface RecordedCall {
  readonly method: string;
  /** Every value of the `workload.spiffe.io` header the call carried. */
  readonly header: readonly string[];
}

const JWT_TTL_S = 300;

export class TestWorkloadApiServer {
  readonly dir: string;
  readonly socketPath: string;
  readonly pki: TestPki;
  readonly calls: RecordedCall[] = [];
  readonly #server: Server;
  readonly #jwtKey: { keyId: string; privateKey: KeyObject; publicKey: KeyObject };
  readonly #streams = new Set<ServerWritableStream<X509SVIDRequest, X509SVIDResponse>>();
  readonly #removeDir: () => void;
  readonly #streamWaiters: { count: number; resolve: () => void }[] = [];
  #identity: ServedIdentity = { svids: [] };
  /** While true, every call is recorded and never answered: a stuck agent, for deadline tests. */
  stalled = false;
  #nextSerial = 0x1000;

  private constructor(dir: string, socketPath: string, pki: TestPki, removeDir: () => void) {
    this.dir = dir;
    this.socketPath = socketPath;
    this.pki = pki;
    this.#removeDir = removeDir;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.#jwtKey = { keyId: "test-jwt-key-1", privateKey, publicKey };
    this.#server = new Server();
    this.#server.addService(SpiffeWorkloadAPIService, this.#handlers());
  }

  /**
   * A server in a fresh temp dir (removed by `close`), serving `spiffeIds` (one SVID each) at once;
   * on `<dir>/public/api.sock`, or on `options.socketPath` (an agent restarted on the same socket).
   */
  static async start(
    spiffeIds: readonly string[] = [],
    options: { socketPath?: string } = {},
  ): Promise<TestWorkloadApiServer> {
    const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-wlapi-"));
    const removeDir = trackTempDir(dir);
    try {
      await mkdir(join(dir, "pki"));
      await mkdir(join(dir, "public"));
      const pki = await makeTestPki(join(dir, "pki"));
      const socketPath = options.socketPath ?? join(dir, "public", "api.sock");
      const server = new TestWorkloadApiServer(dir, socketPath, pki, removeDir);
      const svids: ServedSvid[] = [];
      for (const id of spiffeIds) svids.push({ svid: await server.issue(id) });
      server.serve({ svids });
      await server.#listen();
      return server;
    } catch (err) {
      removeDir();
      throw err;
    }
  }

  /** A new X509-SVID for `spiffeId` from the test PKI, with the next serial. */
  issue(spiffeId: string, by: "intermediate" | "root" = "intermediate"): Promise<TestSvid> {
    return issueSvid(this.pki, spiffeId, this.#nextSerial++, by);
  }

  /** The trust domain's X.509 authorities, as every SVID message carries them. */
  get bundle(): Buffer[] {
    return [this.pki.root.der];
  }

  /** Serves `identity` from now on, and sends it on every open FetchX509SVID stream. */
  serve(identity: ServedIdentity): void {
    this.#identity = identity;
    for (const call of this.#streams) this.#sendX509(call);
  }

  /** Serves `identity` while `fn` runs, then what was served before (both pushed to open streams). */
  async servingFor<T>(identity: ServedIdentity, fn: () => Promise<T>): Promise<T> {
    const before = this.#identity;
    this.serve(identity);
    try {
      return await fn();
    } finally {
      this.serve(before);
    }
  }

  get openX509Streams(): number {
    return this.#streams.size;
  }

  /** Resolves once `count` FetchX509SVID streams are open (a client is watching). */
  waitForX509Streams(count: number): Promise<void> {
    if (this.#streams.size >= count) return Promise.resolve();
    return new Promise((resolve) => this.#streamWaiters.push({ count, resolve }));
  }

  close(): Promise<void> {
    for (const call of this.#streams) call.end();
    // Stalled calls would keep a graceful shutdown waiting forever.
    this.#server.forceShutdown();
    this.#removeDir();
    return Promise.resolve();
  }

  async #listen(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.#server.bindAsync(`unix:${this.socketPath}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  /**
   * Records the call; false when it is not to be served: the SPIFFE header is missing (answered
   * InvalidArgument, as the specification says) or the server is stalled (never answered).
   */
  #admit(method: string, metadata: Metadata, refuse: (err: Partial<ServiceError>) => void): boolean {
    const header = metadata.get("workload.spiffe.io").map(String);
    this.calls.push({ method, header });
    if (this.stalled) return false;
    if (header.length === 1 && header[0] === "true") return true;
    refuse({ code: GrpcStatus.INVALID_ARGUMENT, details: "security header missing from request" });
    return false;
  }

  #sendX509(call: ServerWritableStream<X509SVIDRequest, X509SVIDResponse>): void {
    const { svids, federatedBundles = {} } = this.#identity;
    if (svids.length === 0) {
      this.#streams.delete(call);
      call.emit("error", { code: GrpcStatus.PERMISSION_DENIED, details: "no identity issued" });
      return;
    }
    call.write({
      svids: svids.map(({ svid, hint }) => ({
        spiffeId: svid.spiffeId,
        x509Svid: Buffer.concat(svid.chain),
        x509SvidKey: svid.keyPkcs8,
        bundle: Buffer.concat(this.bundle),
        hint: hint ?? "",
      })),
      crl: [],
      federatedBundles: Object.fromEntries(
        Object.entries(federatedBundles).map(([id, certs]) => [id, Buffer.concat(certs)]),
      ),
    });
  }

  #jwtBundle(): Buffer {
    const trustDomain = TrustDomain.parse(this.pki.trustDomain);
    const { keyId, publicKey } = this.#jwtKey;
    return Buffer.from(
      serializeBundle({
        trustDomain,
        sequence: 1,
        x509Authorities: [],
        jwtAuthorities: [{ keyId, publicKey }],
      }),
    );
  }

  #handlers(): SpiffeWorkloadAPIServer {
    const deny = { code: GrpcStatus.PERMISSION_DENIED, details: "no identity issued" };
    return {
      fetchX509Svid: (call) => {
        if (!this.#admit("FetchX509SVID", call.metadata, (err) => call.emit("error", err))) return;
        this.#streams.add(call);
        call.on("cancelled", () => this.#streams.delete(call));
        this.#sendX509(call);
        for (const waiter of this.#streamWaiters.filter((w) => this.#streams.size >= w.count)) {
          this.#streamWaiters.splice(this.#streamWaiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      },
      fetchX509Bundles: (call) => {
        if (!this.#admit("FetchX509Bundles", call.metadata, (err) => call.emit("error", err))) return;
        call.write({
          crl: [],
          bundles: { [`spiffe://${this.pki.trustDomain}`]: Buffer.concat(this.bundle) },
        });
      },
      fetchJwtBundles: (call) => {
        if (!this.#admit("FetchJWTBundles", call.metadata, (err) => call.emit("error", err))) return;
        call.write({ bundles: { [`spiffe://${this.pki.trustDomain}`]: this.#jwtBundle() } });
      },
      fetchJwtsvid: (call, callback) => {
        if (!this.#admit("FetchJWTSVID", call.metadata, (err) => callback(err))) return;
        const { audience, spiffeId } = call.request;
        if (audience.length === 0) {
          callback({
            code: GrpcStatus.INVALID_ARGUMENT,
            details: "audience must be specified",
          });
          return;
        }
        const ids = this.#identity.svids
          .map((s) => s.svid.spiffeId)
          .filter((id) => spiffeId === "" || id === spiffeId);
        if (ids.length === 0) {
          callback(deny);
          return;
        }
        Promise.all(
          ids.map(async (id) => ({
            spiffeId: id,
            hint: "",
            svid: await new SignJWT({})
              .setProtectedHeader({ alg: "ES256", kid: this.#jwtKey.keyId, typ: "JWT" })
              .setSubject(id)
              .setAudience(audience)
              .setIssuedAt()
              .setExpirationTime(`${JWT_TTL_S}s`)
              .sign(this.#jwtKey.privateKey),
          })),
        ).then(
          (svids) => callback(null, { svids }),
          (err: unknown) => callback({ code: GrpcStatus.INTERNAL, details: String(err) }),
        );
      },
      validateJwtsvid: (call, callback) => {
        if (!this.#admit("ValidateJWTSVID", call.metadata, (err) => callback(err))) return;
        const { audience, svid } = call.request;
        jwtVerify(svid, this.#jwtKey.publicKey, { audience, algorithms: ["ES256"] }).then(
          ({ payload }) => callback(null, { spiffeId: String(payload.sub), claims: { ...payload } }),
          (err: unknown) =>
            callback({
              code: GrpcStatus.INVALID_ARGUMENT,
              details: `unable to validate JWT-SVID: ${err instanceof Error ? err.message : String(err)}`,
            }),
        );
      },
    };
  }
}
