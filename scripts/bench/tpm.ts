// Per-command latency of hallmark's TypeScript TPM stack on swtpm, next to tpm2-tools doing the
// same operations against the same swtpm.
// Run: node --import tsx scripts/bench/tpm.ts [iterations=30]
//
// Method. Ours: wall time of each operation in-process (one connection, no process start).
// tpm2-tools: each tool is a new process (exec, TCTI/ESYS set-up, connect, the command, exit), so
// we time the tool(s) an operation needs and subtract the median cost of as many baseline runs of
// `tpm2_getrandom 8` (the same start-up and connect, with one trivial TPM command). What is left
// approximates the tools' per-command cost; its p99 is the tool's p99 minus the baseline median.
// Persistent SRK/AK/agent key (0x81000001..3, made with tpm2-tools) keep both sides free of
// ContextLoad round trips.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cryptoRandom } from "../../common/random.js";
import { startSwtpm, type SwtpmFixture } from "../../test/fixtures/swtpm.js";
import { TPM_ALG, TPM_RH } from "../../native/tpm/constants.js";
import { certify, quote } from "../../native/tpm/commands/attestation.js";
import { create, createPrimary, flushContext, load, readPublic } from "../../native/tpm/commands/objects.js";
import { sign } from "../../native/tpm/commands/sign.js";
import { activateCredential } from "../../native/tpm/commands/credential.js";
import { policySecret, startPolicySession } from "../../native/tpm/commands/session.js";
import { activateWithEk } from "../../native/tpm/client/activate.js";
import { openEk, releaseEk, type Ek } from "../../native/tpm/client/ek.js";
import { agentKeyTemplateEccP256, akTemplateEccP256 } from "../../native/tpm/client/templates.js";
import { ekTemplateEccP256, ekTemplateRsa2048 } from "../../native/tpm/ek-templates.js";
import { flushLeftovers, withTransient } from "../../native/tpm/client/transient.js";
import { SaltedSession } from "../../native/tpm/session/salted-session.js";
import { withSaltedSession } from "../../native/tpm/session/with-session.js";
import { passwordAuth, policyAuth } from "../../native/tpm/structures/sessions.js";
import type { CredentialChallenge } from "../../native/tpm/verifier/credential-file.js";
import { SocketTransport } from "../../native/tpm/transport/socket.js";
import { Tpm } from "../../native/tpm/tpm.js";
import { encodeToolsCredentialFile } from "../../native/tpm/verifier/credential-file.js";
import { makeCredential } from "../../native/tpm/verifier/make-credential.js";

const N = Number(process.argv[2] ?? "30");
const SRK = 0x81000001;
const AK = 0x81000002;
const AGENT = 0x81000003;
const PCRS = [0, 1, 2, 3, 4, 5, 6, 7];

interface Stats {
  median: number;
  p99: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? NaN;
  return { median: at(50), p99: at(99) };
}

/** Median and p99 as table cells. */
function ms(s: Stats): [string, string] {
  return [s.median.toFixed(2), s.p99.toFixed(2)];
}

async function timeOurs(n: number, op: () => Promise<void>, after?: () => Promise<void>): Promise<Stats> {
  // One untimed warm-up: swtpm's first use of a persistent key reads it from its NV file.
  await op();
  if (after) await after();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await op();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (after) await after();
  }
  return stats(samples);
}

function toolOutput(sw: SwtpmFixture, args: readonly string[]): string {
  const [cmd, ...rest] = args as [string, ...string[]];
  const r = spawnSync(cmd, rest, { env: sw.toolsEnv, cwd: sw.dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function tool(sw: SwtpmFixture, args: readonly string[]): void {
  toolOutput(sw, args);
}

/** Wall time of running `steps` (each one tool process) in sequence, `n` times. */
function timeTools(sw: SwtpmFixture, n: number, steps: string[][], after?: string[][]): number[] {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    for (const s of steps) tool(sw, s);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    for (const s of after ?? []) tool(sw, s);
  }
  return samples;
}

const AK_ATTRS = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign";
const AGENT_ATTRS = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign";
const FLUSH = [["tpm2_flushcontext", "-t"]];
// tpm2_createek builds the same L-1 / L-2 templates we do (native/tpm/client/keys.test.ts byte-compares them).
const EK_RSA_TOOL = ["tpm2_createek", "-G", "rsa", "-c", "ek.ctx"];
const EK_ECC_TOOL = ["tpm2_createek", "-G", "ecc", "-c", "ek.ctx"];

const SRK_HEX = `0x${SRK.toString(16)}`;

/** tpm2_create + tpm2_load of an ECC P-256 signing key under the SRK, into `<name>.ctx`. */
function createAndLoadSteps(attrs: string, name: string): string[][] {
  return [
    [
      "tpm2_create",
      "-C",
      SRK_HEX,
      "-G",
      "ecc256:ecdsa-sha256:null",
      "-a",
      attrs,
      "-u",
      `${name}.pub`,
      "-r",
      `${name}.priv`,
    ],
    ["tpm2_load", "-C", SRK_HEX, "-u", `${name}.pub`, "-r", `${name}.priv`, "-c", `${name}.ctx`],
  ];
}

/** Makes `<name>.ctx` persistent at `handle` and flushes the transient copy. */
function persistSteps(name: string, handle: number): string[][] {
  return [["tpm2_evictcontrol", "-C", "o", "-c", `${name}.ctx`, `0x${handle.toString(16)}`], ...FLUSH];
}

function provision(sw: SwtpmFixture): void {
  const steps: string[][] = [
    [
      "tpm2_createprimary",
      "-C",
      "o",
      "-g",
      "sha256",
      "-G",
      "ecc256:null:aes128cfb",
      "-c",
      "srk.ctx",
      "-a",
      "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt",
    ],
    ...persistSteps("srk", SRK),
    ...createAndLoadSteps(AK_ATTRS, "ak"),
    ...persistSteps("ak", AK),
    ...createAndLoadSteps(AGENT_ATTRS, "ag"),
    ...persistSteps("ag", AGENT),
  ];
  for (const s of steps) tool(sw, s);
}

/**
 * ActivateCredential as it was before salted sessions (and as tpm2-tools does it by default):
 * policy session, PolicySecret and ActivateCredential with plaintext (empty) passwords.
 */
async function plainActivation(
  tpm: Tpm,
  ek: Ek,
  akHandle: number,
  challenge: CredentialChallenge,
): Promise<void> {
  const policy = await startPolicySession(tpm, ek.policy.hashAlg);
  await withTransient(tpm, policy.handle, async () => {
    await policySecret(tpm, TPM_RH.ENDORSEMENT, policy);
    await activateCredential(tpm, {
      activateHandle: akHandle,
      keyHandle: ek.handle,
      activateAuth: passwordAuth(),
      keyAuth: policyAuth(policy.handle),
      credentialBlob: challenge.credentialBlob,
      secret: challenge.secret,
    });
  });
}

/**
 * What a salted session with parameter encryption costs beside the plaintext password session,
 * on the operations that use one (activation, key creation): ours only, same TPM, same keys.
 */
async function saltedVersusPlain(tpm: Tpm, challenge: CredentialChallenge, ek: Ek): Promise<string[][]> {
  const srk = await readPublic(tpm, SRK);
  const srkKey = { handle: SRK, public: srk.public, name: srk.name };
  const ak = await readPublic(tpm, AK);
  const akPublic = ak.public;
  const eccEk = await openEk(tpm, { kind: "eccP256" });
  const eccChallenge = makeCredential({
    ekPublic: eccEk.publicArea,
    akPublic: ak.publicArea,
    credential: Buffer.alloc(32, 9),
    random: cryptoRandom,
  });
  const rows: string[][] = [];
  const pair = async (
    name: string,
    plain: () => Promise<void>,
    salted: () => Promise<void>,
  ): Promise<void> => {
    const p = await timeOurs(N, plain);
    const q = await timeOurs(N, salted);
    rows.push([name, ...ms(p), ...ms(q), `+${(q.median - p.median).toFixed(2)}`]);
  };
  try {
    await pair(
      "ActivateCredential, RSA-2048 EK",
      () => plainActivation(tpm, ek, AK, challenge),
      async () => {
        await activateWithEk(tpm, { ek, akHandle: AK, akPublic, challenge });
      },
    );
    await pair(
      "ActivateCredential, ECC P-256 EK",
      () => plainActivation(tpm, eccEk, AK, eccChallenge),
      async () => {
        await activateWithEk(tpm, { ek: eccEk, akHandle: AK, akPublic, challenge: eccChallenge });
      },
    );
    await pair(
      "Create agent key under ECC P-256 SRK",
      async () => {
        await create(tpm, SRK, agentKeyTemplateEccP256());
      },
      async () => {
        await withSaltedSession(tpm, srkKey, (session) =>
          create(tpm, srkKey, agentKeyTemplateEccP256(), { session }),
        );
      },
    );
    for (const [name, key] of [
      ["StartAuthSession+FlushContext salted to RSA EK", ek],
      ["StartAuthSession+FlushContext salted to ECC SRK", srkKey],
    ] as const) {
      const t = await timeOurs(N, async () => (await SaltedSession.start(tpm, key)).flush());
      rows.push([name, "", "", ...ms(t), ""]);
    }
  } finally {
    await releaseEk(tpm, eccEk);
  }
  return rows;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] as number)).join("  ");
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const sw = await startSwtpm();
  try {
    provision(sw);
    const tpm = new Tpm(new SocketTransport({ kind: "unix", path: sw.socketPath }));
    await flushLeftovers(tpm);

    const ek = await openEk(tpm, { kind: "rsa2048" });
    const akPublic = (await readPublic(tpm, AK)).publicArea;
    const challenge = makeCredential({
      ekPublic: ek.publicArea,
      akPublic,
      credential: Buffer.alloc(32, 7),
      random: cryptoRandom,
    });
    await writeFile(join(sw.dir, "cred.bin"), encodeToolsCredentialFile(challenge));
    const digest = createHash("sha256").update("bench").digest();
    await writeFile(join(sw.dir, "digest.bin"), digest);
    const nonce = cryptoRandom.bytes(32);
    const sel = [{ hashAlg: TPM_ALG.SHA256, pcrs: PCRS }];

    const ourRsaEkObject = await createPrimary(tpm, TPM_RH.ENDORSEMENT, ekTemplateRsa2048());
    await flushContext(tpm, ourRsaEkObject.handle);
    const ourRsaEk = ourRsaEkObject.publicArea;
    const ourEccEkObject = await createPrimary(tpm, TPM_RH.ENDORSEMENT, ekTemplateEccP256());
    await flushContext(tpm, ourEccEkObject.handle);
    const ourEccEk = ourEccEkObject.publicArea;

    let lastHandle = 0;
    const flushLast = async (): Promise<void> => flushContext(tpm, lastHandle);
    const ours: Record<string, Stats> = {};
    const rsaN = Math.max(5, Math.floor(N / 3));
    ours["CreatePrimary RSA EK"] = await timeOurs(
      rsaN,
      async () => {
        lastHandle = (await createPrimary(tpm, TPM_RH.ENDORSEMENT, ekTemplateRsa2048())).handle;
      },
      flushLast,
    );
    ours["CreatePrimary ECC EK"] = await timeOurs(
      N,
      async () => {
        lastHandle = (await createPrimary(tpm, TPM_RH.ENDORSEMENT, ekTemplateEccP256())).handle;
      },
      flushLast,
    );
    ours["Create+Load AK"] = await timeOurs(
      N,
      async () => {
        const c = await create(tpm, SRK, akTemplateEccP256());
        lastHandle = (await load(tpm, SRK, c.private, c.publicArea)).handle;
      },
      flushLast,
    );
    ours["Quote"] = await timeOurs(N, async () => {
      await quote(tpm, { signHandle: AK, qualifyingData: nonce, pcrSelection: sel });
    });
    ours["Certify"] = await timeOurs(N, async () => {
      await certify(tpm, { objectHandle: AGENT, signHandle: AK, qualifyingData: nonce });
    });
    ours["Sign"] = await timeOurs(N, async () => {
      await sign(tpm, {
        keyHandle: AGENT,
        digest,
        scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
      });
    });
    // The same work tpm2-tools does below (plaintext password sessions); the salted path is
    // measured beside it in the second table.
    ours["ActivateCredential (session+policy+activate)"] = await timeOurs(N, () =>
      plainActivation(tpm, ek, AK, challenge),
    );
    const saltedRows = await saltedVersusPlain(tpm, challenge, ek);
    await tpm.close();

    // The same template on both sides (a primary RSA key's generation time depends on it): the
    // tools' EK must come out byte-identical to ours.
    for (const [argv, ours] of [
      [EK_RSA_TOOL, ourRsaEk],
      [EK_ECC_TOOL, ourEccEk],
    ] as const) {
      tool(sw, [...argv, "-u", "ek-check.tpmt", "-f", "tpmt"]);
      tool(sw, ["tpm2_flushcontext", "-t"]);
      if (!(await readFile(join(sw.dir, "ek-check.tpmt"))).equals(ours)) {
        throw new Error(`${argv.join(" ")} made a different key than our template`);
      }
    }
    const pcrList = `sha256:${PCRS.join(",")}`;
    const baseline = timeTools(sw, N, [["tpm2_getrandom", "8", "-o", "rnd.bin"]]);
    const base = stats(baseline).median;
    const toolOps: [string, string[][], string[][]?, number?][] = [
      ["CreatePrimary RSA EK", [EK_RSA_TOOL], FLUSH, rsaN],
      ["CreatePrimary ECC EK", [EK_ECC_TOOL], FLUSH],
      ["Create+Load AK", createAndLoadSteps(AK_ATTRS, "ak2"), FLUSH],
      [
        "Quote",
        [
          [
            "tpm2_quote",
            "-c",
            `0x${AK.toString(16)}`,
            "-l",
            pcrList,
            "-q",
            nonce.toString("hex"),
            "-m",
            "q.msg",
            "-s",
            "q.sig",
          ],
        ],
      ],
      [
        "Certify",
        [
          [
            "tpm2_certify",
            "-c",
            `0x${AGENT.toString(16)}`,
            "-C",
            `0x${AK.toString(16)}`,
            "-g",
            "sha256",
            "-o",
            "c.att",
            "-s",
            "c.sig",
          ],
        ],
      ],
      [
        "Sign",
        [["tpm2_sign", "-c", `0x${AGENT.toString(16)}`, "-g", "sha256", "-d", "-o", "s.sig", "digest.bin"]],
      ],
      [
        "ActivateCredential (session+policy+activate)",
        [
          ["tpm2_startauthsession", "--policy-session", "-S", "s.ctx"],
          ["tpm2_policysecret", "-S", "s.ctx", "-c", "e"],
          [
            "tpm2_activatecredential",
            "-c",
            `0x${AK.toString(16)}`,
            "-C",
            "0x81010001",
            "-i",
            "cred.bin",
            "-o",
            "out.bin",
            "-P",
            "session:s.ctx",
          ],
        ],
        [["tpm2_flushcontext", "-s"]],
      ],
    ];

    console.log(`hallmark TPM stack vs tpm2-tools on swtpm (${N} iterations; RSA CreatePrimary ${rsaN})`);
    console.log(
      `tpm2-tools baseline (tpm2_getrandom 8: process start + TCTI + 1 trivial command): median ${base.toFixed(2)} ms, subtracted once per tool process`,
    );
    console.log("");
    const header = [
      "operation",
      "ours med ms",
      "ours p99 ms",
      "tools net med ms",
      "tools net p99 ms",
      "ratio ours/tools",
    ];
    const rows: string[][] = [];
    for (const [name, steps, after, n] of toolOps) {
      const raw = timeTools(sw, n ?? N, steps, after);
      const t = stats(raw);
      const net = { median: t.median - base * steps.length, p99: t.p99 - base * steps.length };
      const o = ours[name] as Stats;
      rows.push([
        name,
        ...ms(o),
        ...ms(net),
        net.median > 0.05 ? (o.median / net.median).toFixed(2) : "n/a (below noise)",
      ]);
    }
    printTable(header, rows);

    console.log("");
    console.log(
      `Salted HMAC session + AES-128-CFB parameter encryption vs plaintext password sessions (ours, ${N} iterations; the per-signature path keeps the plain session)`,
    );
    console.log("");
    printTable(
      ["operation", "plain med ms", "plain p99 ms", "salted med ms", "salted p99 ms", "cost med ms"],
      saltedRows,
    );
  } finally {
    await sw.stop();
  }
}

await main();
