// Throughput of the HSM-backed CA on SoftHSM2: raw token signatures, then X.509-SVID and JWT-SVID issuance
// through the CA, with per-issuance latency.
// Run: node --import tsx scripts/bench/ca.ts [seconds-per-case=3] [session-pool-size=4] [concurrent-callers=16] [sign-threads]
import { createHash, generateKeyPairSync } from "node:crypto";
import pkcs11js from "pkcs11js";
import { ManualClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { cryptoRandom } from "../../common/random.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { Pkcs11Module } from "../../native/pkcs11/module.js";
import { CaManager } from "../../server/ca/ca-manager.js";
import { MemoryKeyJournal } from "../../server/ca/key-journal.js";
import { createSoftHsm } from "../../test/fixtures/softhsm.js";
import { opensslCsr } from "../../common/spiffe/testdata/openssl.js";
import { percentile } from "./stats.js";

let seconds = Number(process.argv[2] ?? "3");
/** Sessions for the libuv-threadpool signing mode, compared with the default worker threads. */
const POOL_SIZE = Number(process.argv[3] ?? "4");
const CONCURRENCY = Number(process.argv[4] ?? "16");
/** Signing threads of the default worker-threads mode (default: the key manager's, CPUs up to 4). */
const SIGN_THREADS = process.argv[5] === undefined ? undefined : Number(process.argv[5]);

interface Result {
  name: string;
  perSecond: number;
  p50Ms?: number;
  p99Ms?: number;
}

/** Runs `op` from `concurrency` loops for `seconds`; throughput and per-call latency. */
async function measure(
  name: string,
  concurrency: number,
  op: (worker: number) => Promise<unknown>,
  warmUp = 200,
): Promise<Result> {
  for (let i = 0; i < warmUp; i++) await op(0);
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < end) {
        const t = performance.now();
        await op(worker);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name,
    perSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

async function measureFor<T>(forSeconds: number, run: () => T | Promise<T>): Promise<T> {
  const saved = seconds;
  seconds = forSeconds;
  try {
    return await run();
  } finally {
    seconds = saved;
  }
}

function measureSync(name: string, op: () => void): Result {
  for (let i = 0; i < 200; i++) op();
  let count = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) op();
    count += 100;
  }
  return { name, perSecond: count / ((performance.now() - started) / 1000) };
}

const hsm = await createSoftHsm({ tokenLabel: "hallmark-bench" });
const module = Pkcs11Module.load(hsm.modulePath);
const km = await Pkcs11KeyManager.open(
  {
    module: hsm.modulePath,
    tokenLabel: hsm.tokenLabel,
    pin: { env: "PIN" },
    sessionPoolSize: POOL_SIZE,
    signThreads: SIGN_THREADS,
  },
  { module, env: { PIN: hsm.pin } },
);
try {
  const td = TrustDomain.parse("example.org");
  const spiffeId = SpiffeId.parse("spiffe://example.org/bench/workload");
  const ca = await CaManager.start({
    keyManager: km,
    journal: new MemoryKeyJournal(),
    trustDomain: td,
    clock: new ManualClock(Date.now()),
    random: cryptoRandom,
    logger: createLogger({ name: "bench", level: "warn" }),
  });
  await ca.stop();
  const caKeyId = ca.keys().find((k) => k.kind === "x509" && k.status === "active")!.keyId;
  const caKey = await km.getKey(caKeyId);

  // Raw pkcs11js on the token, no hallmark code in between: the ceiling.
  const api = module.api;
  const slot = module.findSlot(hsm.tokenLabel);
  const sessions = Array.from({ length: 4 }, () => api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION));
  api.C_FindObjectsInit(sessions[0]!, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_ID, value: Buffer.from(caKeyId) },
  ]);
  const handle = api.C_FindObjects(sessions[0]!)!;
  api.C_FindObjectsFinal(sessions[0]!);
  const digest = createHash("sha256").update("bench").digest();
  const mech = { mechanism: pkcs11js.CKM_ECDSA };
  const rawSession = api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  const signRawSync = (): void => {
    api.C_SignInit(rawSession, mech, handle);
    api.C_Sign(rawSession, digest, Buffer.alloc(64));
  };
  const rawSync = measureSync("raw pkcs11js C_Sign (sync, 1 session)", signRawSync);
  const rawAsync = await measure("raw pkcs11js C_SignAsync (4 sessions)", 4, async (worker) => {
    const s = sessions[worker]!;
    api.C_SignInit(s, mech, handle);
    await api.C_SignAsync(s, digest, Buffer.alloc(64));
  });
  for (const s of sessions) api.C_CloseSession(s);
  const kmSign = await measure("key manager sign, worker threads", CONCURRENCY, () =>
    km.sign(caKey, Buffer.from("bench")),
  );
  const kmPool = await Pkcs11KeyManager.open(
    {
      module: hsm.modulePath,
      tokenLabel: hsm.tokenLabel,
      pin: { env: "PIN" },
      signWith: "libuv-threadpool",
      sessionPoolSize: POOL_SIZE,
    },
    { module, env: { PIN: hsm.pin } },
  );
  const kmPoolSign = await measure("key manager sign, libuv threadpool", CONCURRENCY, () =>
    kmPool.sign(caKey, Buffer.from("bench")),
  );
  await kmPool.close();

  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ format: "der", type: "spki" });
  const csr = await opensslCsr(hsm.dir, "bench", "bench");

  const x509Key = await measure("X.509-SVID from public key -> DER", CONCURRENCY, () =>
    ca.issueX509Svid({ spiffeId, publicKey: spki }),
  );
  const x509Csr = await measure("X.509-SVID from CSR -> DER", CONCURRENCY, () =>
    ca.issueX509Svid({ spiffeId, csr }),
  );
  const jwt = await measure("JWT-SVID -> compact JWS", CONCURRENCY, () =>
    ca.signJwtSvid({ spiffeId, audience: ["bench"] }),
  );
  const sequential = await measure("X.509-SVID from public key, one at a time", 1, () =>
    ca.issueX509Svid({ spiffeId, publicKey: spki }),
  );

  const raw = Math.max(rawSync.perSecond, rawAsync.perSecond);
  console.log(
    `SoftHSM2 ECDSA P-256, ${seconds}s per case, ${CONCURRENCY} concurrent callers, session pool ${POOL_SIZE}, sign threads ${SIGN_THREADS ?? "default"}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}`,
  );
  for (const r of [rawSync, rawAsync, kmSign, kmPoolSign, x509Key, x509Csr, jwt, sequential]) {
    const lat = r.p50Ms === undefined ? "" : `  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms!.toFixed(2)} ms`;
    const ratio = r === rawSync || r === rawAsync ? "" : `  ratio to raw ${(r.perSecond / raw).toFixed(2)}`;
    console.log(`${r.name.padEnd(46)} ${r.perSecond.toFixed(0).padStart(7)} /s${lat}${ratio}`);
  }

  // The machine may be shared: measure raw and issuance in alternating short rounds so both see the same
  // load, and report the median of the per-round ratios.
  const rounds = 7;
  const ratios: { x509: number[]; jwt: number[] } = { x509: [], jwt: [] };
  const roundSeconds = Math.max(1, seconds / 2);
  for (let i = 0; i < rounds; i++) {
    const rawRound = await measureFor(roundSeconds, () => measureSync("raw", signRawSync));
    const x509Round = await measureFor(roundSeconds, () =>
      measure("x509", CONCURRENCY, () => ca.issueX509Svid({ spiffeId, publicKey: spki }), 0),
    );
    const jwtRound = await measureFor(roundSeconds, () =>
      measure("jwt", CONCURRENCY, () => ca.signJwtSvid({ spiffeId, audience: ["bench"] }), 0),
    );
    ratios.x509.push(x509Round.perSecond / rawRound.perSecond);
    ratios.jwt.push(jwtRound.perSecond / rawRound.perSecond);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(
    `interleaved (${rounds} rounds): X.509-SVID/raw sync median ${median(ratios.x509).toFixed(2)} [${ratios.x509.map((r) => r.toFixed(2)).join(" ")}]`,
  );
  console.log(
    `interleaved (${rounds} rounds): JWT-SVID/raw sync median  ${median(ratios.jwt).toFixed(2)} [${ratios.jwt.map((r) => r.toFixed(2)).join(" ")}]`,
  );
} finally {
  await km.close();
  module.finalize();
  await hsm.cleanup();
}
