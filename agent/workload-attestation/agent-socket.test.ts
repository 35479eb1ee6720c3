import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { toGrpcError } from "../../common/grpc/status.js";
import { createLogger } from "../../common/logging/logger.js";
import type { Selector } from "../../common/selector.js";
import { NOBODY, sharedTempDir } from "../../native/peercred/testdata/helpers.js";
import { runAsNobody } from "../../native/peercred/testdata/who-am-i-server.js";
import { whoAmIService } from "../../native/peercred/testdata/who-am-i-service.js";
import { AgentSocket } from "../health/agent-socket.js";
import { attestationFixture, until, type AttestationFixture } from "./testdata/fixture.js";
import { credentialSelectors, neverAnswers, RecordingAttestor } from "./testdata/test-attestors.js";

/** What the client child prints: the handler's reply, or the gRPC status it got. */
type Outcome = { reply: readonly Selector[] } | { error: { code: number; details: string } };

describe("CallerAttestation behind the agent socket: a real grpc-js client in another process, as another user", () => {
  const temp = sharedTempDir("hallmark-caller-attestation-grpc-");
  const socketPath = join(temp.dir, "agent", "api.sock");
  let fixture: AttestationFixture;
  let slow: RecordingAttestor;
  /** Whether the `slow` attestor never answers. */
  let stalling = false;
  let socket: AgentSocket;
  before(async () => {
    slow = new RecordingAttestor("slow", (caller, options) =>
      stalling ? neverAnswers()(caller, options) : Promise.resolve([]),
    );
    fixture = attestationFixture([new RecordingAttestor("cred", credentialSelectors("cred")), slow]);
    socket = await AgentSocket.listen(
      { socketPath, logger: createLogger({ name: "agent", level: "silent" }), peer: { groups: true } },
      (server, callers) => {
        // The one place a Workload API handler turns the caller into selectors, and errors into a status.
        server.addService(whoAmIService, {
          whoAmI: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
            void (async () => fixture.attestation.selectorsOf(callers.peerOf(call)))().then(
              (selectors) => callback(null, selectors),
              (err: unknown) => callback(toGrpcError(err)),
            );
          },
        });
      },
    );
  });
  after(async () => {
    fixture.attestation.close();
    await socket.close();
    temp.remove();
  });

  it("answers a client running as nobody with the selectors of its own credentials", async () => {
    const client = runAsNobody("grpc-client", [`unix:${socketPath}`]);
    const outcome = (await client.lines()) as Outcome;
    await client.exited;
    assert.deepEqual(outcome, {
      reply: [
        { type: "cred", value: `gid:${NOBODY}` },
        { type: "cred", value: `uid:${NOBODY}` },
      ],
    });
  });

  it("answers UNAVAILABLE naming the attestor that missed its deadline, instead of leaving the client hanging", async () => {
    stalling = true;
    const client = runAsNobody("grpc-client", [`unix:${socketPath}`]);
    await until(() => slow.running === 1, "the slow attestor runs");
    fixture.clock.advance(2_000);

    const outcome = (await client.lines()) as Outcome;
    await client.exited;
    assert.ok("error" in outcome, JSON.stringify(outcome));
    assert.equal(outcome.error.code, GrpcStatus.UNAVAILABLE);
    assert.equal(
      outcome.error.details,
      `ATTESTOR_TIMEOUT: attesting the caller (process ${client.child.pid}): workload attestor "slow" did not answer within 2000 ms`,
    );
  });
});
