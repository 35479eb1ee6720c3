/**
 * Runs the agent's workload attestors on the first caller of a unix socket and prints one JSON line:
 * the selectors they found, and what opening the caller's memory and environment in /proc did.
 * agent-privileges.test.ts starts it with the privileges packaging/systemd/hallmark-agent.service
 * gives the agent. Usage: attest-first-caller.ts SOCKET_PATH
 */
import { chmodSync } from "node:fs";
import { open } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { once } from "node:events";
import { createLogger } from "../../../common/logging/logger.js";
import { acceptPeer } from "../../../native/peercred/index.js";
import { CgroupAttestor, SystemdAttestor, UnixAttestor } from "../../../attestors/workload/index.js";

const socketPath = process.argv[2];
if (socketPath === undefined) throw new Error("usage: attest-first-caller.ts SOCKET_PATH");

const logger = createLogger({ name: "attest-first-caller", level: "silent" });
const server = createServer({ pauseOnConnect: true });
server.listen(socketPath);
await once(server, "listening");
chmodSync(socketPath, 0o777);
process.stdout.write("listening\n");

const [socket] = (await once(server, "connection")) as [Socket];
const peer = acceptPeer(socket, { groups: true });
const unix = new UnixAttestor({ logger });
const attestors = [unix, new CgroupAttestor({ logger }), new SystemdAttestor({ logger })];
const options = { signal: AbortSignal.timeout(10_000), wants: () => true };
const selectors = (await Promise.all(attestors.map((a) => a.attest(peer, options)))).flat();

/** "opened", or the errno code of the refusal. */
async function tryOpen(path: string, flags: string): Promise<string> {
  try {
    await (await open(path, flags)).close();
    return "opened";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}
const proc = `/proc/${peer.credentials.pid}`;
const opens = {
  memRead: await tryOpen(`${proc}/mem`, "r"),
  memWrite: await tryOpen(`${proc}/mem`, "r+"),
  environ: await tryOpen(`${proc}/environ`, "r"),
};

process.stdout.write(`${JSON.stringify({ selectors, opens })}\n`);
peer.process.close();
socket.destroy();
server.close();
await unix.close();
