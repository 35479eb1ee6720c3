import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, type TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { HttpListener } from "./http-listener.js";

interface Pem {
  cert: string;
  key: string;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "hallmark-http-listener-"));
});
after(() => rm(dir, { recursive: true, force: true }));

/** A self-signed P-256 certificate made by openssl, with the given subjectAltName. */
async function selfSigned(name: string, subjectAltName: string): Promise<Pem> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await promisify(execFile)("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-subj", `/CN=${name}`, "-addext", `subjectAltName=${subjectAltName}`, "-days", "1"],
    ...["-keyout", key, "-out", cert],
  ]);
  return { cert: await readFile(cert, "utf8"), key: await readFile(key, "utf8") };
}

/** What the server saw of this client: "authorized" or "unauthorized", on a fresh connection. */
function ask(port: number, serverCa: string, client?: Pem): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, ca: serverCa, agent: false, ...(client ?? {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("HttpListener with client certificates", () => {
  it("lets clients without a certificate in, checks one against `ca`, and takes new CAs without dropping its own certificate", async () => {
    const server = await selfSigned("server", "IP:127.0.0.1");
    const client = await selfSigned("client", "URI:spiffe://example.org/client");
    const unrelated = await selfSigned("unrelated", "DNS:unrelated.example");
    const listener = await HttpListener.listen(
      { bindAddress: "127.0.0.1", bindPort: 0 },
      { what: "a test endpoint", configKey: "test" },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        res.end(socket.authorized ? "authorized" : "unauthorized");
      },
      { cert: server.cert, key: server.key, ca: unrelated.cert },
      { requestClientCertificate: true },
    );
    try {
      assert.equal(await ask(listener.port, server.cert), "unauthorized", "no certificate still connects");
      assert.equal(await ask(listener.port, server.cert, client), "unauthorized", "not issued by `ca`");
      listener.setSecureContext({ ca: client.cert });
      assert.equal(await ask(listener.port, server.cert, client), "authorized", "the new CA counts");
      assert.equal(await ask(listener.port, server.cert), "unauthorized");
    } finally {
      await listener.close();
    }
  });
});

/** One TLS handshake as this client, offering `session` to resume: whether it was resumed, and its session. */
function handshake(
  port: number,
  serverCa: string,
  client: Pem,
  session?: Buffer,
): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca: serverCa,
      ...client,
      ...(session ? { session } : {}),
    });
    socket.on("session", (s: Buffer) => (latest = s));
    socket.once("secureConnect", () => {
      // TLS 1.3 sends its tickets after the handshake: give them a moment to arrive.
      setTimeout(() => {
        const reused = socket.isSessionReused();
        socket.end();
        resolve({ reused, session: latest });
      }, 50);
    });
    socket.on("error", reject);
  });
}

describe("HttpListener with client certificates: no session resumption", () => {
  it("makes every client do a full handshake, so a client certificate is always checked against today's CAs", async () => {
    const server = await selfSigned("server-resume", "IP:127.0.0.1");
    const client = await selfSigned("client-resume", "URI:spiffe://example.org/client");
    const listener = await HttpListener.listen(
      { bindAddress: "127.0.0.1", bindPort: 0 },
      { what: "a test endpoint", configKey: "test" },
      (_req, res) => res.end(),
      { cert: server.cert, key: server.key, ca: client.cert },
      { requestClientCertificate: true },
    );
    try {
      const first = await handshake(listener.port, server.cert, client);
      const second = await handshake(listener.port, server.cert, client, first.session);
      assert.equal(second.reused, false, "a resumed session would skip the client certificate check");
    } finally {
      await listener.close();
    }
  });
});
