import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import { run, type RunResult } from "../../test/fixtures/processes.js";
import { hallmarkCommand, repoRoot, runHallmark } from "../../test/fixtures/hallmark-binaries.js";
import { TestWorkloadApiServer } from "../workload-client/testdata/test-workload-api-server.js";

const WEB = "spiffe://example.org/web";
const DB = "spiffe://example.org/db";

interface JwtSvidJson {
  spiffe_id: string;
  hint: string;
  audience: string[];
  expires_at: string;
  token: string;
}

describe("hallmark-agent api fetch jwt / fetch jwt-bundles / validate jwt (real processes)", () => {
  let server: TestWorkloadApiServer;
  let api: (...args: string[]) => Promise<RunResult>;
  before(async () => {
    server = await TestWorkloadApiServer.start([WEB, DB]);
    api = (...args) => runHallmark("agent", ["api", ...args, "--socket-path", server.socketPath]);
  });
  after(() => server?.close());

  const fetchJwt = async (...args: string[]): Promise<JwtSvidJson[]> => {
    const result = await api("fetch", "jwt", "-o", "json", ...args);
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as { svids: JwtSvidJson[] }).svids;
  };

  it("fetch jwt: a token per identity for every --audience, which verifies against the fetched JWT bundle", async () => {
    const svids = await fetchJwt(
      "--audience",
      "https://db.example.org",
      "--audience",
      "spiffe://example.org/db",
    );
    assert.deepEqual(
      svids.map((s) => [s.spiffe_id, s.audience]),
      [
        [WEB, ["https://db.example.org", "spiffe://example.org/db"]],
        [DB, ["https://db.example.org", "spiffe://example.org/db"]],
      ],
    );
    const bundles = await api("fetch", "jwt-bundles", "-o", "json");
    assert.equal(bundles.code, 0, bundles.stderr);
    const jwks = (JSON.parse(bundles.stdout) as { bundles: Record<string, { keys: { use?: string }[] }> })
      .bundles["spiffe://example.org"];
    assert.ok(jwks !== undefined && jwks.keys.every((k) => k.use === "jwt-svid"));
    // A generic JOSE library takes keys whose use is "sig" or absent: strip SPIFFE's "jwt-svid".
    const keySet = createLocalJWKSet({ keys: jwks.keys.map(({ use: _use, ...key }) => key) });
    for (const svid of svids) {
      const { payload } = await jwtVerify(svid.token, keySet, { audience: "https://db.example.org" });
      assert.equal(payload.sub, svid.spiffe_id);
      assert.equal(new Date((payload.exp ?? 0) * 1000).toISOString().replace(".000Z", "Z"), svid.expires_at);
    }
  });

  it("fetch jwt --spiffe-id: only that identity's token", async () => {
    assert.deepEqual(
      (await fetchJwt("--audience", "a", "--spiffe-id", DB)).map((s) => s.spiffe_id),
      [DB],
    );
  });

  it("fetch jwt prints the token in the readable output too (it is what was asked for)", async () => {
    const result = await api("fetch", "jwt", "--audience", "a", "--spiffe-id", WEB);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assert.deepEqual(
      lines.map((l) => l.split(" : ")[0]),
      ["SPIFFE ID", "Audience ", "Expires  ", "Token    "],
    );
    assert.equal(lines[0], `SPIFFE ID : ${WEB}`);
    assert.match(lines[3] ?? "", /^Token {5}: eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it("fetch jwt: usage errors exit 2 (no --audience; a --spiffe-id that is not a SPIFFE ID)", async () => {
    assert.equal((await api("fetch", "jwt")).code, 2);
    const bad = await api("fetch", "jwt", "--audience", "a", "--spiffe-id", "https://example.org/web");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /option '--spiffe-id <id>' argument 'https:\/\/example.org\/web' is invalid/);
  });

  it("fetch jwt for an identity the caller does not have: exit 1, NO_IDENTITY", async () => {
    const result = await api("fetch", "jwt", "--audience", "a", "--spiffe-id", "spiffe://example.org/other");
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[NO_IDENTITY\]: /);
  });

  it("fetch jwt-bundles: each trust domain's JWT authorities", async () => {
    const result = await api("fetch", "jwt-bundles");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      "Bundle spiffe://example.org: 1 JWT authority (sequence 1)\n  test-jwt-key-1  EC P-256\n",
    );
  });

  it("validate jwt: exit 0 with the SPIFFE ID and claims; the header on every call", async () => {
    const [svid] = await fetchJwt("--audience", "db", "--spiffe-id", WEB);
    server.calls.length = 0;
    const text = await api("validate", "jwt", "--audience", "db", "--svid", svid?.token ?? "");
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, 2), ["SVID is valid.", `SPIFFE ID : ${WEB}`]);
    assert.match(lines[2] ?? "", /^Claims {4}: \{.*"sub":"spiffe:\/\/example.org\/web".*\}$/);
    const json = await api("validate", "jwt", "--audience", "db", "--svid", svid?.token ?? "", "-o", "json");
    const doc = JSON.parse(json.stdout) as { valid: boolean; spiffe_id: string; claims: { aud: string[] } };
    assert.deepEqual([doc.valid, doc.spiffe_id, doc.claims.aud], [true, WEB, ["db"]]);
    assert.deepEqual(
      server.calls.map((c) => c.header),
      [["true"], ["true"]],
    );
  });

  it("validate jwt --svid -: the token from standard input, out of the process list", async () => {
    const [svid] = await fetchJwt("--audience", "db", "--spiffe-id", DB);
    const result = await run(
      process.execPath,
      [
        ...hallmarkCommand("agent"),
        "api",
        "validate",
        "jwt",
        "--socket-path",
        server.socketPath,
        "--audience",
        "db",
        "--svid",
        "-",
        "-o",
        "json",
      ],
      { input: `${svid?.token ?? ""}\n`, cwd: repoRoot },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { spiffe_id: string }).spiffe_id, DB);
  });

  it("validate jwt for another audience: exit 1, JWT_SVID_INVALID with the agent's reason, the token not echoed", async () => {
    const [svid] = await fetchJwt("--audience", "db", "--spiffe-id", WEB);
    const token = svid?.token ?? "";
    const result = await api("validate", "jwt", "--audience", "payments", "--svid", token);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^Error \[JWT_SVID_INVALID\]: the JWT-SVID is not valid: unable to validate JWT-SVID: .*"aud".*\n$/,
    );
    assert.ok(!result.stderr.includes(token));
  });

  it("validate jwt: usage errors exit 2 (no --audience, no --svid)", async () => {
    assert.equal((await api("validate", "jwt", "--svid", "x.y.z")).code, 2);
    assert.equal((await api("validate", "jwt", "--audience", "a")).code, 2);
  });
});
