import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SpiffeId } from "../../../common/spiffe/index.js";
import { createSoftHsm, type SoftHsmFixture } from "../../../test/fixtures/softhsm.js";
import { freePort, trackTempDir } from "../../../test/fixtures/processes.js";
import { delegationServerConfig } from "../../../test/server/server-process.js";
import { parseServerConfig } from "../../config/server-config.js";
import { startServer, type RunningServer } from "../../run/start-server.js";
import { delegationComponentWith, type DelegationParts } from "../component.js";
import { clientTlsOf } from "./testdata/client-tls.js";
import { httpsCall } from "./testdata/https-call.js";
import { silentLogger } from "./testdata/service-fixture.js";
import { SseClient, type ClientTls } from "./testdata/sse-client.js";

/** The parts wired as `hallmark-server run` wires them: its datastore, audit log, CA and config. */
describe("the delegation component: revocations in hallmark-server", () => {
  let hsm: SoftHsmFixture;
  let server: RunningServer;
  let parts: DelegationParts | undefined;
  let base: string;
  let backend: ClientTls;
  const tokenRequests: string[] = [];

  before(async () => {
    hsm = await createSoftHsm();
    const dir = await mkdtemp(join(tmpdir(), "hallmark-delegation-component-"));
    trackTempDir(dir);
    const port = await freePort();
    const text = delegationServerConfig(dir, hsm, port);
    server = await startServer(parseServerConfig(text, "server.yaml"), {
      logger: silentLogger,
      env: { HALLMARK_TEST_HSM_PIN: hsm.pin },
      components: [
        delegationComponentWith({
          tokenHandler:
            (_deps, { issuer }) =>
            (req, res) => {
              tokenRequests.push(issuer);
              res.writeHead(400, { "Content-Type": "application/json" }).end('{"error":"invalid_grant"}');
            },
          onStarted: (started) => (parts = started),
        }),
      ],
    });
    base = `https://127.0.0.1:${port}`;
    backend = await clientTlsOf(server.deps.ca, SpiffeId.parse("spiffe://example.org/backend/orders"));
  });
  after(async () => {
    await server.stop();
    await hsm.cleanup();
  });

  it("streams a revocation made through the service, audited in the server's log, to a subscribed backend", async () => {
    const stream = await SseClient.open(`${base}/revocations`, backend);
    await stream.until("synced");
    const revocation = await parts!.revocations.revoke({ kind: "subject", value: "alice" }, { uid: 0 });
    const events = await stream.until("revocation");
    assert.equal(events.find((e) => e.type === "revocation")?.lastEventId, String(revocation.id));
    const audit = await readFile(server.deps.audit.path, "utf8");
    assert.match(audit, /"type":"delegation_revoked","kind":"subject","value":"alice"/);
    stream.close();
  });

  it("serves /token with the handler passed in, and refuses /revocations to a client without an SVID", async () => {
    const token = await httpsCall(`${base}/token`, { ca: backend.ca }, { method: "POST" });
    assert.equal(token.status, 400);
    assert.deepEqual(tokenRequests, [`https://localhost:${new URL(base).port}`]);
    const refused = await httpsCall(`${base}/revocations`, { ca: backend.ca });
    assert.equal(refused.status, 401);
  });
});
