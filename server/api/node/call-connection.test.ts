import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import {
  Server,
  ServerCredentials,
  ChannelCredentials,
  makeGenericClientConstructor,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { possessionExporter } from "../../../common/node-api/possession-proof.js";
import { observingConnections } from "../../../common/node-api/node-api-credentials.js";
import { opensslCert } from "../../../common/spiffe/testdata/openssl.js";
import { fixtureTempRoot, trackTempDir } from "../../../test/fixtures/processes.js";
import { callConnection } from "./call-connection.js";

/** A one-method service whose handler answers with what callConnection found for its call. */
const service = {
  probe: {
    path: "/test.Probe/Probe",
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};
const ProbeClient = makeGenericClientConstructor(service, "Probe");

async function serve(credentials: ServerCredentials): Promise<{ server: Server; port: number }> {
  const server = new Server();
  server.addService(service, {
    probe: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const connection = callConnection(call);
      callback(null, connection === undefined ? Buffer.from("none") : possessionExporter(connection.socket));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("localhost:0", credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port };
}

function probe(client: InstanceType<typeof ProbeClient>): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      "/test.Probe/Probe",
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      (err, value) => (err ? reject(err) : resolve(value as Buffer)),
    ),
  );
}

describe("callConnection: a grpc-js handler's TLS socket", () => {
  let cert: Buffer;
  let key: Buffer;
  before(async () => {
    const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-call-connection-"));
    trackTempDir(dir);
    const made = await opensslCert(dir, "localhost", ["subjectAltName=DNS:localhost"]);
    cert = await readFile(made.certPath);
    key = await readFile(made.keyPath);
  });

  it("finds the socket of the call's connection: its exporter is the client's", async () => {
    const { server, port } = await serve(
      ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false),
    );
    let clientSocket: TLSSocket | undefined;
    const credentials = observingConnections(ChannelCredentials.createSsl(cert), (socket) => {
      clientSocket = socket;
    });
    const client = new ProbeClient(`localhost:${port}`, credentials);
    try {
      const fromHandler = await probe(client);
      assert.equal(fromHandler.length, 32);
      assert.ok(clientSocket !== undefined);
      assert.ok(fromHandler.equals(possessionExporter(clientSocket)));
      // Another connection has another exporter: the value names the connection.
      const other = tlsConnect({ port, host: "localhost", ca: cert, ALPNProtocols: ["h2"] });
      await new Promise((resolve) => other.once("secureConnect", resolve));
      assert.ok(!possessionExporter(other).equals(fromHandler));
      other.destroy();
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it("finds none on a plaintext connection", async () => {
    const { server, port } = await serve(ServerCredentials.createInsecure());
    const client = new ProbeClient(`localhost:${port}`, ChannelCredentials.createInsecure());
    try {
      assert.equal((await probe(client)).toString(), "none");
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
