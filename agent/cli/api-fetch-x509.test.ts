import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir, stat, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { run, runOk, type RunResult } from "../../test/fixtures/processes.js";
import { runHallmark } from "../../test/fixtures/hallmark-binaries.js";
import { TestWorkloadApiServer } from "../workload-client/testdata/test-workload-api-server.js";

const WEB = "spiffe://example.org/web";
const DB = "spiffe://example.org/db";

function api(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return runHallmark("agent", ["api", ...args], { env: env ?? withoutEndpointVariable() });
}

function withoutEndpointVariable(): NodeJS.ProcessEnv {
  const { SPIFFE_ENDPOINT_SOCKET: _ignored, ...env } = process.env;
  return env;
}

/** The public key (PEM SubjectPublicKeyInfo) as openssl reads it from a certificate or a private key file. */
async function publicKeyOf(kind: "cert" | "key", path: string): Promise<string> {
  const args =
    kind === "cert" ? ["x509", "-in", path, "-noout", "-pubkey"] : ["pkey", "-in", path, "-pubout"];
  const { stdout } = await runOk("openssl", args);
  assert.match(stdout, /^-----BEGIN PUBLIC KEY-----\n/);
  return stdout;
}

describe("hallmark-agent api fetch x509 (a real process against a Workload API socket)", () => {
  let server: TestWorkloadApiServer;
  before(async () => {
    server = await TestWorkloadApiServer.start();
    server.serve({ svids: [{ svid: await server.issue(WEB, "root") }] });
  });
  after(() => server?.close());

  it("prints each SVID (ID, serial, expiry, chain length) and the bundle; exit 0; the header on the call", async () => {
    server.calls.length = 0;
    const result = await api(["fetch", "x509", "--socket-path", server.socketPath]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "Received 1 X.509-SVID.");
    assert.ok(lines.includes(`SPIFFE ID    : ${WEB}`), result.stdout);
    assert.ok(lines.includes("Chain length : 1"), result.stdout);
    assert.ok(
      lines.some((l) => /^Expires {6}: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(l)),
      result.stdout,
    );
    assert.ok(lines.includes("Bundle spiffe://example.org: 1 X.509 authority"), result.stdout);
    assert.match(result.stdout, /^ {2}#1 O=hallmark test, CN=root CA \(serial [0-9A-F]+, expires /m);
    assert.doesNotMatch(result.stdout, /PRIVATE KEY/);
    assert.deepEqual(server.calls, [{ method: "FetchX509SVID", header: ["true"] }]);
  });

  it("--write: svid.0.pem, svid.0.key (0600), bundle.0.pem; openssl verifies the SVID against the bundle; the key is the SVID's", async () => {
    const dir = join(server.dir, "write-root-issued");
    const result = await api(["fetch", "x509", "--socket-path", server.socketPath, "--write", dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await readdir(dir)).sort(), ["bundle.0.pem", "svid.0.key", "svid.0.pem"]);
    const verify = await run("openssl", [
      "verify",
      "-CAfile",
      join(dir, "bundle.0.pem"),
      join(dir, "svid.0.pem"),
    ]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stdout, `${join(dir, "svid.0.pem")}: OK\n`);
    assert.equal(
      await publicKeyOf("key", join(dir, "svid.0.key")),
      await publicKeyOf("cert", join(dir, "svid.0.pem")),
    );
    assert.match(await readFile(join(dir, "svid.0.key"), "utf8"), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal((await stat(join(dir, "svid.0.key"))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, "svid.0.pem"))).mode & 0o777, 0o644);
    assert.equal((await stat(join(dir, "bundle.0.pem"))).mode & 0o777, 0o644);
    assert.match(result.stdout, new RegExp(`^Wrote key #0 to ${join(dir, "svid.0.key")}$`, "m"));
  });

  it("--write with several SVIDs, an intermediate and a federated bundle: svid.1.*, the chain in svid.N.pem, federated_bundle.N.M.pem", async () => {
    await server.servingFor(
      {
        svids: [{ svid: await server.issue(WEB), hint: "internal" }, { svid: await server.issue(DB) }],
        federatedBundles: { "spiffe://partner.org": [server.pki.intermediate.der] },
      },
      async () => {
        const dir = join(server.dir, "write-several");
        await mkdir(dir);
        await writeFile(join(dir, "svid.1.pem"), "stale\n");
        const result = await api(["fetch", "x509", "--socket-path", server.socketPath, "--write", dir]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual((await readdir(dir)).sort(), [
          "bundle.0.pem",
          "bundle.1.pem",
          "federated_bundle.0.0.pem",
          "federated_bundle.1.0.pem",
          "svid.0.key",
          "svid.0.pem",
          "svid.1.key",
          "svid.1.pem",
        ]);
        for (const i of [0, 1]) {
          const svid = join(dir, `svid.${i}.pem`);
          // The chain file holds the intermediate after the SVID: openssl takes it as untrusted.
          const verify = await run("openssl", [
            "verify",
            "-CAfile",
            join(dir, `bundle.${i}.pem`),
            "-untrusted",
            svid,
            svid,
          ]);
          assert.equal(verify.code, 0, verify.stderr);
          assert.equal(await publicKeyOf("key", join(dir, `svid.${i}.key`)), await publicKeyOf("cert", svid));
          const ids = await runOk("openssl", ["x509", "-in", svid, "-noout", "-ext", "subjectAltName"]);
          assert.match(ids.stdout, new RegExp(`URI:${[WEB, DB][i]}`));
        }
        assert.equal(
          await readFile(join(dir, "federated_bundle.0.0.pem"), "utf8"),
          (await runOk("openssl", ["x509", "-in", server.pki.intermediate.certPath])).stdout,
        );
        assert.match(result.stdout, /^Hint {9}: internal$/m);
        assert.match(result.stdout, /^Federated bundle spiffe:\/\/partner.org: 1 X.509 authority$/m);
      },
    );
  });

  it("--output json: one document with the SVIDs, bundles and written files, never a key", async () => {
    const dir = join(server.dir, "write-json");
    const result = await api([
      "fetch",
      "x509",
      "--socket-path",
      server.socketPath,
      "-o",
      "json",
      "--write",
      dir,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const doc = JSON.parse(result.stdout) as {
      svids: { spiffe_id: string; hint: string; chain_length: number; not_after: string; serial: string }[];
      bundles: Record<string, { subject: string }[]>;
      federated_bundles: Record<string, unknown>;
      written: { what: string; path: string; mode: string }[];
    };
    assert.deepEqual(
      doc.svids.map((s) => [s.spiffe_id, s.hint, s.chain_length]),
      [[WEB, "", 1]],
    );
    assert.match(doc.svids[0]?.not_after ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(Object.keys(doc.bundles), ["spiffe://example.org"]);
    assert.deepEqual(doc.federated_bundles, {});
    assert.deepEqual(
      doc.written.map((f) => [f.what, f.path, f.mode]),
      [
        ["SVID #0", join(dir, "svid.0.pem"), "0644"],
        ["key #0", join(dir, "svid.0.key"), "0600"],
        ["bundle #0", join(dir, "bundle.0.pem"), "0644"],
      ],
    );
    const key = (await readFile(join(dir, "svid.0.key"), "utf8")).split("\n")[1] ?? "";
    assert.ok(key.length > 20 && !result.stdout.includes(key));
  });

  it("no registration entry: exit 1, Error [NO_IDENTITY], nothing written", async () => {
    await server.servingFor({ svids: [] }, async () => {
      const dir = join(server.dir, "write-denied");
      const result = await api(["fetch", "x509", "--socket-path", server.socketPath, "--write", dir]);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        new RegExp(
          `^Error \\[NO_IDENTITY\\]: the agent at ${server.socketPath} has no identity for this process: no registration entry matches it \\(uid \\d+, pid \\d+\\): no identity issued\\n$`,
        ),
      );
      await assert.rejects(stat(dir), { code: "ENOENT" });
    });
  });

  it("a stuck agent: --timeout ends it with exit 1 and DEADLINE_EXCEEDED", async () => {
    server.stalled = true;
    try {
      const result = await api(["fetch", "x509", "--socket-path", server.socketPath, "--timeout", "300ms"]);
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `Error [DEADLINE_EXCEEDED]: fetching X.509-SVIDs from the Workload API at ${server.socketPath}: the deadline passed\n`,
      );
    } finally {
      server.stalled = false;
    }
  });

  it("usage errors exit 2: a timeout without a unit, zero, an unknown output", async () => {
    for (const args of [["--timeout", "5"], ["--timeout", "0s"], ["--output", "yaml"], ["--bogus"]]) {
      const result = await api(["fetch", "x509", "--socket-path", server.socketPath, ...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    }
  });
});
