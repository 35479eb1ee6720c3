import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { TRUST_DOMAIN, startServerProcess, type ServerProcess } from "./server-process.js";

const AGENT = `spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/${"d".repeat(64)}`;

const SUMMARISER = `spiffe://${TRUST_DOMAIN}/summariser`;

interface DelegationJson {
  scopes: string[];
  audiences: string[];
  mayDelegateTo: string[];
  maxDepth: number;
}

interface EntryJson {
  id: string;
  delegation?: DelegationJson;
}

function entryOf(stdout: string): EntryJson {
  return JSON.parse(stdout) as EntryJson;
}

describe("hallmark-server entry commands: delegation policy", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    if (server.child.exitCode === null) await server.stop();
  });

  const create = (path: string, uid: number, more: string[]) =>
    server.cli([
      "entry",
      "create",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}${path}`,
      "--parent-id",
      AGENT,
      "--selector",
      `unix:uid:${uid}`,
      ...more,
    ]);

  it("create, show (text and JSON) and update carry the policy; the audit log records it", async () => {
    const created = await create("/assistant", 2001, [
      "--delegation-scope",
      "orders:read",
      "--delegation-scope",
      "orders:write",
      "--delegation-audience",
      "https://orders.example.org/api",
      "--delegation-audience",
      "billing",
      "--may-delegate-to",
      SUMMARISER,
      "--max-depth",
      "2",
      "--output",
      "json",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const entry = entryOf(created.stdout);
    assert.deepEqual(entry.delegation, {
      scopes: ["orders:read", "orders:write"],
      audiences: ["billing", "https://orders.example.org/api"],
      mayDelegateTo: [SUMMARISER],
      maxDepth: 2,
    });

    const text = await server.cli(["entry", "show", "--id", entry.id]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Delegation scope +: orders:read$/m);
    assert.match(text.stdout, /^Delegation scope +: orders:write$/m);
    assert.match(text.stdout, /^Delegation audience +: https:\/\/orders\.example\.org\/api$/m);
    assert.match(text.stdout, new RegExp(`^May delegate to +: ${SUMMARISER}$`, "m"));
    assert.match(text.stdout, /^Max depth +: 2$/m);
    const shownJson = await server.cli(["entry", "show", "--id", entry.id, "--output", "json"]);
    assert.deepEqual((JSON.parse(shownJson.stdout) as EntryJson[])[0]?.delegation, entry.delegation);

    const updated = await server.cli([
      "entry",
      "update",
      "--id",
      entry.id,
      "--delegation-scope",
      "orders:read",
      "--output",
      "json",
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    assert.deepEqual(entryOf(updated.stdout).delegation, { ...entry.delegation, scopes: ["orders:read"] });

    const cleared = await server.cli([
      "entry",
      "update",
      "--id",
      entry.id,
      "--clear-delegation",
      "--output",
      "json",
    ]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(entryOf(cleared.stdout).delegation, undefined);
    const plain = await server.cli(["entry", "show", "--id", entry.id]);
    assert.doesNotMatch(plain.stdout, /Delegation|Max depth/, "an entry without a policy prints none");

    const audit = (await readFile(server.auditLogPath, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.entryId === entry.id);
    assert.deepEqual(
      audit.map((l) => [l.type, (l.delegation as DelegationJson | undefined)?.scopes]),
      [
        ["entry_created", ["orders:read", "orders:write"]],
        ["entry_updated", ["orders:read"]],
        ["entry_updated", undefined],
      ],
    );
  });

  it("refuses a bad policy with the field named, writes nothing, and keeps serving", async () => {
    const cases: { flags: string[]; error: RegExp }[] = [
      {
        flags: ["--delegation-scope", 'bad"scope', "--delegation-audience", "a"],
        error: /^Error \[INVALID_SCOPE\]: delegation\.scopes: /,
      },
      {
        flags: ["--delegation-scope", "s", "--delegation-scope", "s", "--delegation-audience", "a"],
        error: /^Error \[INVALID_SCOPE\]: delegation\.scopes: "s" is given twice/,
      },
      {
        flags: ["--delegation-audience", "a"],
        error: /^Error \[INVALID_DELEGATION_POLICY\]: delegation\.scopes: /,
      },
      {
        flags: ["--delegation-scope", "s", "--delegation-audience", "https://x.example/#f"],
        error: /^Error \[INVALID_AUDIENCE\]: delegation\.audiences: /,
      },
      {
        flags: [
          "--delegation-scope",
          "s",
          "--delegation-audience",
          "a",
          "--may-delegate-to",
          "spiffe://other.org/x",
          "--max-depth",
          "2",
        ],
        error: /^Error \[FOREIGN_TRUST_DOMAIN\]: delegation\.may_delegate_to: /,
      },
      {
        flags: [
          "--delegation-scope",
          "s",
          "--delegation-audience",
          "a",
          "--may-delegate-to",
          `spiffe://${TRUST_DOMAIN}/refused`,
          "--max-depth",
          "2",
        ],
        error: /^Error \[INVALID_DELEGATE\]: delegation\.may_delegate_to: .*own SPIFFE ID/,
      },
      {
        flags: ["--delegation-scope", "s", "--delegation-audience", "a", "--max-depth", "9"],
        error: /^Error \[MAX_DEPTH_OUT_OF_RANGE\]: delegation\.max_depth: 9 is outside 1\.\.8/,
      },
      {
        flags: ["--delegation-scope", "s", "--delegation-audience", "a", "--may-delegate-to", SUMMARISER],
        error: /^Error \[CONTRADICTORY_DELEGATION\]: delegation\.max_depth: /,
      },
      {
        flags: ["--delegation-scope", "s", "--delegation-audience", "a", "--max-depth", "two"],
        error: /^Error \[INVALID_FLAG\]: --max-depth: /,
      },
    ];
    for (const { flags, error } of cases) {
      const result = await create("/refused", 2002, flags);
      assert.equal(result.code, 1, `${flags.join(" ")}: ${result.stdout}`);
      assert.match(result.stderr, error);
    }
    const none = await server.cli([
      "entry",
      "show",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/refused`,
      "--output",
      "json",
    ]);
    assert.deepEqual(JSON.parse(none.stdout), [], "nothing of a refused entry was written");
    assert.equal((await server.cli(["healthcheck"])).code, 0);
  });

  it("refuses widening a sub-agent's policy while another entry delegates to it", async () => {
    const sub = await create("/summariser", 2003, [
      "--delegation-scope",
      "orders:read",
      "--delegation-audience",
      "billing",
      "--output",
      "json",
    ]);
    assert.equal(sub.code, 0, sub.stderr);
    const lead = await create("/lead", 2004, [
      "--delegation-scope",
      "orders:read",
      "--delegation-audience",
      "billing",
      "--may-delegate-to",
      SUMMARISER,
      "--max-depth",
      "2",
      "--output",
      "json",
    ]);
    assert.equal(lead.code, 0, lead.stderr);
    const widened = await server.cli([
      "entry",
      "update",
      "--id",
      entryOf(sub.stdout).id,
      "--delegation-scope",
      "orders:read",
      "--delegation-scope",
      "orders:delete",
    ]);
    assert.equal(widened.code, 1);
    assert.match(
      widened.stderr,
      new RegExp(`^Error \\[DELEGATION_WIDENED\\]: delegation: .*${entryOf(lead.stdout).id}`),
    );
    const still = await server.cli(["entry", "show", "--id", entryOf(sub.stdout).id, "--output", "json"]);
    assert.deepEqual((JSON.parse(still.stdout) as EntryJson[])[0]?.delegation?.scopes, ["orders:read"]);
  });

  it("refuses a policy on a node-alias entry", async () => {
    const result = await server.cli([
      "entry",
      "create",
      "--node",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/rack`,
      "--parent-id",
      `spiffe://${TRUST_DOMAIN}/hallmark/server`,
      "--selector",
      `tpm:ek_hash:${"e".repeat(64)}`,
      "--delegation-scope",
      "s",
      "--delegation-audience",
      "a",
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[DELEGATION_NOT_ALLOWED\]: delegation: /);
  });
});
