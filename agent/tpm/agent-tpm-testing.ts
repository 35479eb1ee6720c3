import { createHash, createPublicKey, verify } from "node:crypto";
import { Writable } from "node:stream";
import { systemClock } from "../../common/clock.js";
import { createLogger, type Logger } from "../../common/logging/logger.js";
import { cryptoRandom } from "../../common/random.js";
import { runOk } from "../../test/fixtures/processes.js";
import type { SwtpmFixture } from "../../test/fixtures/swtpm.js";
import { toolsTransientHandles } from "../../test/tpm/swtpm-connection.js";
import { FaultyTransport, commandCodeOf } from "../../test/tpm/transport-doubles.js";
import { loadEkTrust } from "../../attestors/node/tpm/ek-trust-files.js";
import {
  decodeTpmAttestationRequest,
  decodeTpmChallenge,
  decodeTpmChallengeResponse,
  encodeTpmAttestationRequest,
  encodeTpmChallenge,
  encodeTpmChallengeResponse,
} from "../../attestors/node/tpm/evidence.js";
import {
  challengeTpm,
  verifyTpmResponse,
  type TpmAttestationResult,
  type TpmAttestorPolicy,
} from "../../attestors/node/tpm/server.js";
import {
  TPM_ALG,
  Tpm,
  agentKeyPublic,
  openTpm,
  spkiFromTpmPublic,
  type AgentKeyBlob,
} from "../../native/tpm/index.js";
import { AgentTpm, type AgentTpmOptions, type TpmAttestationSession } from "./agent-tpm.js";
import type { OpenTpmFunction } from "./tpm-link.js";

/** Log lines as JSON objects, captured at debug level. */
export class CapturedLog {
  readonly #chunks: string[] = [];
  readonly logger: Logger;

  constructor() {
    const chunks = this.#chunks;
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    this.logger = createLogger({ name: "agent-tpm-test", level: "debug", destination });
  }

  text(): string {
    return this.#chunks.join("");
  }

  lines(): Record<string, unknown>[] {
    return this.text()
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Lines at warn level (40) whose message matches. */
  warnings(message: RegExp): Record<string, unknown>[] {
    return this.lines().filter((l) => l.level === 40 && message.test(String(l.msg)));
  }
}

export const RECOVERING = /^recovering the TPM/;

/**
 * What every command sent to the TPM through AgentTpm was (its command code), in order; `intercept`
 * may act on one before it is forwarded (restart the swtpm under it, abort a signal).
 */
export class CommandRecorder {
  readonly codes: number[] = [];
  intercept: ((code: number, forward: () => Promise<Buffer>) => Promise<Buffer>) | undefined;

  /** An openTpm whose Tpm sends through this recorder (TPM2_Startup and the leftover flush are not recorded). */
  readonly openTpm: OpenTpmFunction = async (endpoint, options) => {
    const opened = await openTpm(endpoint, options);
    const transport = new FaultyTransport(opened.tpm.transport, (command, forward) => {
      const code = commandCodeOf(command);
      this.codes.push(code);
      const intercept = this.intercept;
      return intercept ? intercept(code, () => forward(command)) : forward(command);
    });
    return { tpm: new Tpm(transport, options), flushed: opened.flushed };
  };

  count(code: number): number {
    return this.codes.filter((c) => c === code).length;
  }
}

export function agentTpmOn(sw: SwtpmFixture, log: CapturedLog, extra: Partial<AgentTpmOptions> = {}) {
  return AgentTpm.open({
    location: { kind: "swtpm", socketPath: sw.socketPath },
    logger: log.logger,
    ...extra,
  });
}

/**
 * Runs `use` on an AgentTpm on `sw` whose commands a recorder sees and whose log is captured,
 * closes it, and returns what tpm2-tools then finds loaded (nothing reopened the TPM meanwhile:
 * an owner's open would flush leftovers and hide them).
 */
export async function afterUse(
  sw: SwtpmFixture,
  use: (tpm: AgentTpm, recorder: CommandRecorder, log: CapturedLog) => Promise<void>,
  log = new CapturedLog(),
): Promise<{ objects: number[]; sessions: number[] }> {
  const recorder = new CommandRecorder();
  const tpm = await agentTpmOn(sw, log, { openTpm: recorder.openTpm });
  try {
    await use(tpm, recorder, log);
  } finally {
    await tpm.close();
  }
  return loadedInTpm(sw);
}

/** A new agent key made in `sw` by one attestation session, as the agent would have stored it. */
export async function agentKeyBlobOf(sw: SwtpmFixture): Promise<AgentKeyBlob> {
  let blob: AgentKeyBlob | undefined;
  await afterUse(sw, async (tpm) => {
    const session = await tpm.beginAttestation();
    await session.close();
    blob = session.agentKeyBlob;
  });
  if (blob === undefined) throw new Error("no session");
  return blob;
}

/** Whether `der` is the agent key's ECDSA signature over `message`. */
export function signedBy(blob: AgentKeyBlob, message: string, der: Buffer): boolean {
  const key = createPublicKey({ key: spkiFromTpmPublic(agentKeyPublic(blob)), format: "der", type: "spki" });
  return verify("sha256", Buffer.from(message), key, der);
}

export const sha256 = (text: string): Buffer => createHash("sha256").update(text).digest();

/** The server half's policy for `sw`: its EK certificate chains to the fixture's local CA. */
export async function serverPolicy(sw: SwtpmFixture): Promise<TpmAttestorPolicy> {
  return {
    ekTrust: await loadEkTrust([sw.ekCaBundlePath]),
    ekHashAllowList: new Set(),
    pcrSelection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 7] }],
  };
}

/** The server half's challenge to `session`'s request. */
export function challengeFor(session: TpmAttestationSession, policy: TpmAttestorPolicy) {
  return challengeTpm(session.request, policy, { random: cryptoRandom, clock: systemClock });
}

/** One attestation through the wire encodings against the server half (no server process). */
export async function attestWith(
  session: TpmAttestationSession,
  policy: TpmAttestorPolicy,
  op: { signal?: AbortSignal } = {},
): Promise<TpmAttestationResult> {
  const request = decodeTpmAttestationRequest(encodeTpmAttestationRequest(session.request));
  const { challenge, pending } = challengeTpm(request, policy, { random: cryptoRandom, clock: systemClock });
  const answer = await session.answer(decodeTpmChallenge(encodeTpmChallenge(challenge)), op);
  return verifyTpmResponse(pending, decodeTpmChallengeResponse(encodeTpmChallengeResponse(answer)));
}

/**
 * Transient objects and loaded sessions in the TPM, as tpm2-tools (another TPM stack) lists them.
 * swtpm serves one connection at a time: whoever holds one must have closed it.
 */
export async function loadedInTpm(sw: SwtpmFixture): Promise<{ objects: number[]; sessions: number[] }> {
  const { stdout } = await runOk("tpm2_getcap", ["handles-loaded-session"], { env: sw.toolsEnv });
  return {
    objects: await toolsTransientHandles(sw),
    sessions: [...stdout.matchAll(/0x[0-9a-f]+/gi)].map((m) => Number.parseInt(m[0], 16)),
  };
}

export const NOTHING_LOADED = { objects: [], sessions: [] };
