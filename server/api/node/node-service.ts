import { once } from "node:events";
import type { ServerDuplexStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from "@grpc/grpc-js";
import type { Clock } from "../../../common/clock.js";
import { toGrpcError } from "../../../common/grpc/status.js";
import type { Logger } from "../../../common/logging/logger.js";
import { errorMessage, isHallmarkError } from "../../../common/errors.js";
import type { PendingTpmAttestation } from "../../../attestors/node/tpm/server.js";
import type { AuditCaller } from "../../audit/audit-event.js";
import type { AgentAttestor } from "../../node-attestation/agent-attestor.js";
import { NodeRequestError } from "../../node-auth/node-request-error.js";
import { PossessionError } from "../../node-auth/possession-error.js";
import type { PossessionVerifier, ProvedAgent } from "../../node-auth/possession.js";
import type { SvidIssuer } from "../../svid-issuance/svid-issuer.js";
import type { SyncStreamMetrics } from "../../metrics/server-metrics.js";
import { agentSync, type AgentSyncDeps } from "../../sync/agent-sync.js";
import type {
  AttestAgentRequest,
  AttestAgentResponse,
  BatchNewX509SVIDRequest,
  BatchNewX509SVIDResponse,
  GetPossessionChallengeRequest,
  NewJWTSVIDRequest,
  NewJWTSVIDResponse,
  NodeServer,
  PossessionChallenge,
  ProvePossessionRequest,
  ProvePossessionResponse,
  SyncRequest,
  SyncResponse,
  X509SVIDResult,
} from "../../../proto/gen/node.js";
import { agentConnectionOf } from "./agent-connection.js";
import { bundleMessage, syncResponseMessage } from "./convert.js";

export interface NodeServiceDeps {
  readonly attestor: AgentAttestor;
  readonly possession: PossessionVerifier;
  readonly issuer: SvidIssuer;
  readonly sync: AgentSyncDeps;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long the server waits for each message of an attestation (default 30 s). */
  readonly attestationStepTimeoutMs: number;
  /** Open Sync streams, so that stopping the server can end them. */
  readonly openStreams: Set<AbortController>;
  readonly syncStreamMetrics: SyncStreamMetrics;
}

const MAX_BATCH = 1000;

/** The node API's gRPC handlers: decode, authenticate the connection, call the domain, encode. */
export function nodeService(deps: NodeServiceDeps): NodeServer {
  const { possession } = deps;

  function caller(call: { getPeer(): string }, agentId?: string): AuditCaller {
    return { address: call.getPeer(), ...(agentId === undefined ? {} : { agentId }) };
  }

  /** Runs a unary handler; every throw becomes the status `toGrpcError` gives it. */
  function unary<Req, Res>(
    handler: (call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  ): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
    return (call, callback) => {
      Promise.resolve()
        .then(() => handler(call))
        .then(
          (response) => callback(null, response),
          (err: unknown) => {
            logUnexpected(deps.logger, err);
            callback(toGrpcError(err));
          },
        );
    };
  }

  function authenticated(call: object): ProvedAgent {
    return possession.authenticate(agentConnectionOf(call));
  }

  return {
    attestAgent: (call: ServerDuplexStream<AttestAgentRequest, AttestAgentResponse>) => {
      void attest(deps, call, caller(call));
    },

    getPossessionChallenge: unary<GetPossessionChallengeRequest, PossessionChallenge>((call) => {
      const { nonce, expiresAtMs } = possession.challenge(agentConnectionOf(call));
      return { nonce, expiresAtMs };
    }),

    provePossession: unary<ProvePossessionRequest, ProvePossessionResponse>(async (call) => {
      const { nonce, timestampMs, signature, svidChain } = call.request;
      if (nonce.length === 0 || signature.length === 0)
        throw new PossessionError("POP_MALFORMED", "nonce and signature are required");
      const proved = await possession.prove(
        agentConnectionOf(call),
        { nonce, timestampMs, signature, svidChain },
        caller(call),
      );
      return { agentId: proved.agentId, expiresAtMs: proved.expiresAtMs };
    }),

    sync: (call: ServerWritableStream<SyncRequest, SyncResponse>) => {
      void sync(
        deps,
        call,
        () => authenticated(call),
        (agent) => possession.recheck(agent),
      );
    },

    batchNewX509Svid: unary<BatchNewX509SVIDRequest, BatchNewX509SVIDResponse>(async (call) => {
      const agent = authenticated(call);
      const { params } = call.request;
      if (params.length === 0 || params.length > MAX_BATCH)
        throw new NodeRequestError(
          "MALFORMED_REQUEST",
          `a batch holds 1 to ${MAX_BATCH} CSRs, not ${params.length}`,
        );
      // Items are signed concurrently: the HSM key manager signs on several sessions at once.
      const results = await Promise.all(
        params.map(async ({ entryId, csr }): Promise<X509SVIDResult> => {
          try {
            if (entryId === "" || csr.length === 0)
              throw new NodeRequestError("MALFORMED_REQUEST", "each item needs an entry_id and a CSR");
            const { entry, svid } = await deps.issuer.issueX509(
              agent.agentId,
              entryId,
              csr,
              caller(call, agent.agentId),
            );
            return {
              status: { code: 0, message: "" },
              entryId,
              spiffeId: entry.spiffeId.toString(),
              certChain: [svid.certificate, ...svid.intermediates],
              serial: svid.serial,
              expiresAtMs: svid.notAfter.getTime(),
            };
          } catch (err) {
            logUnexpected(deps.logger, err);
            const status = toGrpcError(err);
            return {
              status: { code: status.code, message: status.details },
              entryId,
              spiffeId: "",
              certChain: [],
              serial: "",
              expiresAtMs: 0,
            };
          }
        }),
      );
      return { results };
    }),

    newJwtsvid: unary<NewJWTSVIDRequest, NewJWTSVIDResponse>(async (call) => {
      const agent = authenticated(call);
      const { entryId, audience } = call.request;
      if (entryId === "" || audience.length === 0 || audience.some((a) => a === ""))
        throw new NodeRequestError(
          "MALFORMED_REQUEST",
          "entry_id and at least one non-empty audience are required",
        );
      const svid = await deps.issuer.issueJwt(agent.agentId, entryId, audience, caller(call, agent.agentId));
      return { spiffeId: svid.spiffeId.toString(), token: svid.token, expiresAtMs: svid.expiresAt.getTime() };
    }),
  };
}

/**
 * AttestAgent: the attestation request, then the challenge response, each within the step
 * deadline; a stream left half-way (closed, cancelled or silent) is dropped and audited.
 */
async function attest(
  deps: NodeServiceDeps,
  call: ServerDuplexStream<AttestAgentRequest, AttestAgentResponse>,
  caller: AuditCaller,
): Promise<void> {
  const messages = call[Symbol.asyncIterator]() as AsyncIterator<AttestAgentRequest>;
  const abort = new AbortController();
  // The agent went away: the CA and datastore calls still running stop waiting.
  call.on("cancelled", () => abort.abort());
  let pending: PendingTpmAttestation | undefined;
  let audited = false;
  try {
    const request = await nextStep(deps, messages, "attestationRequest");
    audited = true; // begin and complete audit their own outcomes
    const begun = deps.attestor.begin(request, caller);
    audited = false;
    pending = begun.pending;
    call.write({ step: { $case: "challenge", value: begun.challenge } });
    const response = await nextStep(deps, messages, "challengeResponse");
    audited = true;
    const agent = await deps.attestor.complete(pending, response, caller, { signal: abort.signal });
    call.write({
      step: {
        $case: "result",
        value: {
          spiffeId: agent.agentId.toString(),
          certChain: [agent.svid.certificate, ...agent.svid.intermediates],
          serial: agent.svid.serial,
          expiresAtMs: agent.svid.notAfter.getTime(),
          selectors: [...agent.selectors],
          bundle: bundleMessage(deps.sync.caManager.bundle),
        },
      },
    });
    call.end();
  } catch (err) {
    if (!audited) deps.attestor.refused(err, caller, pending?.ekHash);
    logUnexpected(deps.logger, err);
    call.emit("error", toGrpcError(err));
  }
}

async function nextStep(
  deps: NodeServiceDeps,
  messages: AsyncIterator<AttestAgentRequest>,
  expected: "attestationRequest" | "challengeResponse",
): Promise<Buffer> {
  let timer: { cancel(): void } | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = deps.clock.setTimer(
      () =>
        reject(
          new NodeRequestError("STEP_TIMEOUT", `no ${expected} within ${deps.attestationStepTimeoutMs} ms`),
        ),
      deps.attestationStepTimeoutMs,
    );
  });
  try {
    const next = await Promise.race([messages.next(), timeout]);
    if (next.done === true)
      throw new NodeRequestError("UNEXPECTED_MESSAGE", `the agent closed the stream before its ${expected}`);
    const step = next.value.step;
    if (step?.$case !== expected)
      throw new NodeRequestError(
        "UNEXPECTED_MESSAGE",
        `expected ${expected}, got ${step?.$case ?? "an empty message"}`,
      );
    return step.value;
  } finally {
    timer?.cancel();
  }
}

/** Sync: authenticated by the connection's proof; pushed until the agent leaves, is banned or evicted. */
async function sync(
  deps: NodeServiceDeps,
  call: ServerWritableStream<SyncRequest, SyncResponse>,
  authenticate: () => ProvedAgent,
  recheck: (agent: ProvedAgent) => void,
): Promise<void> {
  const abort = new AbortController();
  deps.openStreams.add(abort);
  deps.syncStreamMetrics.syncStreamOpened();
  call.on("cancelled", () => abort.abort());
  try {
    const agent = authenticate();
    const revision = call.request.revision;
    if (!Number.isSafeInteger(revision) || revision < 0)
      throw new NodeRequestError("MALFORMED_REQUEST", `revision ${revision} is not a revision`);
    for await (const update of agentSync(deps.sync, agent.agentId, revision, abort.signal, () =>
      recheck(agent),
    )) {
      if (!call.write(syncResponseMessage(update))) await once(call, "drain", { signal: abort.signal });
    }
  } catch (err) {
    // The agent went away: there is no one to tell.
    if (abort.signal.aborted && !isHallmarkError(abort.signal.reason)) return;
    logUnexpected(deps.logger, err);
    call.emit("error", toGrpcError(err));
  } finally {
    deps.openStreams.delete(abort);
    deps.syncStreamMetrics.syncStreamClosed();
  }
}

function logUnexpected(logger: Logger, err: unknown): void {
  if (!isHallmarkError(err)) logger.error({ err: errorMessage(err) }, "node API call failed unexpectedly");
}
