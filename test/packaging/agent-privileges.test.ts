import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chownSync, createReadStream, readFileSync, realpathSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot } from "../fixtures/hallmark-binaries.js";
import { spawnTied } from "../fixtures/processes.js";
import { NOBODY, endProcess, sharedTempDir, startConnector } from "../../native/peercred/testdata/helpers.js";
import { UnitFile } from "./unit-file.js";

// The agent unit runs the agent as a user of its own with CAP_SYS_PTRACE as its one capability
// (packaging/systemd/hallmark-agent.service says why). systemd cannot run here, so this test gives
// the real workload attestors those same privileges by hand (setpriv: the user, the capabilities,
// no_new_privs) and has a process of another user call them: with the capability they name and
// hash its executable, without it they cannot; with it or not, the caller's memory and environment
// stay closed to them (the unit filters the ptrace system calls that the capability would open).

const unit = UnitFile.parse(readFileSync(join(repoRoot, "packaging/systemd/hallmark-agent.service"), "utf8"));
/** A stand-in for the `hallmark-agent` system user: any UID that is neither root nor the caller's. */
const AGENT_UID = 10001;

/** CAP_SYS_PTRACE → sys_ptrace, as setpriv names capabilities. */
function setprivCaps(caps: readonly string[]): string {
  return caps.map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`).join(",");
}

function script(): string[] {
  const ts = import.meta.url.endsWith(".ts");
  const path = fileURLToPath(new URL(`./testdata/attest-first-caller.${ts ? "ts" : "js"}`, import.meta.url));
  return ts ? ["--import", "tsx", path] : [path];
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

interface Attested {
  selectors: string[];
  /** What opening the caller's /proc/<pid>/mem (read, write) and environ did: "opened" or an errno. */
  opens: { memRead: string; memWrite: string; environ: string };
}

/** Runs the attestors as the agent unit would (`caps`: its capabilities) on a caller running as nobody. */
async function attestAsAgentUnit(socketDir: string, caps: readonly string[]): Promise<Attested> {
  const socketPath = join(socketDir, `agent-${caps.length}.sock`);
  const setpriv = [
    `--reuid=${AGENT_UID}`,
    `--regid=${AGENT_UID}`,
    "--clear-groups",
    `--bounding-set=-all${caps.length > 0 ? `,${setprivCaps(caps)}` : ""}`,
    `--inh-caps=-all${caps.length > 0 ? `,${setprivCaps(caps)}` : ""}`,
    ...(caps.length > 0 ? [`--ambient-caps=${setprivCaps(caps)}`] : []),
    ...(unit.get("Service", "NoNewPrivileges") === "yes" ? ["--no-new-privs"] : []),
    "--pdeathsig=KILL",
    "--",
    process.execPath,
    ...script(),
    socketPath,
  ];
  const child = spawnTied("setpriv", setpriv, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done === true) throw new Error(`the attestor process ended: ${stderr}`);
    return next.value;
  };
  assert.equal(await nextLine(), "listening");
  const caller = await startConnector(socketPath, { uid: NOBODY, gid: NOBODY, groups: [] });
  try {
    const result = JSON.parse(await nextLine()) as {
      selectors: { type: string; value: string }[];
      opens: Attested["opens"];
    };
    return { selectors: result.selectors.map((s) => `${s.type}:${s.value}`), opens: result.opens };
  } finally {
    await endProcess(caller);
    await endProcess(child);
  }
}

describe("the agent unit's privileges, given to the real workload attestors", () => {
  const temp = sharedTempDir("hallmark-agent-privileges-");
  chownSync(temp.dir, AGENT_UID, AGENT_UID);
  after(() => temp.remove());
  const node = realpathSync(process.execPath);

  it("with the unit's capabilities, names another user's executable and hashes it, but cannot open its memory", async () => {
    const caps = unit.list("Service", "AmbientCapabilities");
    assert.ok(caps.length > 0, "the unit gives the agent no capability");
    const { selectors, opens } = await attestAsAgentUnit(temp.dir, caps);
    assert.ok(selectors.includes(`unix:uid:${NOBODY}`), selectors.join(" "));
    assert.ok(selectors.includes(`unix:path:${node}`), `no unix:path:${node} in ${selectors.join(" ")}`);
    assert.ok(
      selectors.includes(`unix:sha256:${await sha256(node)}`),
      `no unix:sha256 in ${selectors.join(" ")}`,
    );
    assert.ok(
      selectors.some((s) => s.startsWith("cgroup:path:")),
      selectors.join(" "),
    );
    // mem is 0600 and environ 0400 of the caller's user: CAP_SYS_PTRACE passes the kernel's ptrace
    // check on them, the file mode still refuses a user without CAP_DAC_OVERRIDE.
    assert.deepEqual(opens, { memRead: "EACCES", memWrite: "EACCES", environ: "EACCES" });
  });

  it("without CAP_SYS_PTRACE, another user's executable is unknown, and the rest is still there", async () => {
    const { selectors } = await attestAsAgentUnit(temp.dir, []);
    assert.ok(selectors.includes(`unix:uid:${NOBODY}`), selectors.join(" "));
    assert.ok(
      selectors.some((s) => s.startsWith("cgroup:path:")),
      selectors.join(" "),
    );
    assert.ok(
      !selectors.some((s) => s.startsWith("unix:path:") || s.startsWith("unix:sha256:")),
      selectors.join(" "),
    );
  });
});
