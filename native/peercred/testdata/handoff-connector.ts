/**
 * The process that connects, then leaves: `handoff-connector <socket path>` connects to the server,
 * hands the connected socket to a new process (fd 3 of `fd-proxy-client`), prints
 * {"connector":pid,"client":pid} and exits. The server's kernel credentials name this process;
 * the calls come from the other one, as after a fork or an SCM_RIGHTS transfer.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";

const socketPath = process.argv[2];
if (socketPath === undefined) throw new Error("usage: handoff-connector <socket path>");

const socket = connect(socketPath);
// Read nothing: the server's first HTTP/2 bytes must stay in the kernel for the next owner.
socket.pause();
await once(socket, "connect");

const ts = import.meta.url.endsWith(".ts");
const client = fileURLToPath(new URL(`./fd-proxy-client${ts ? ".ts" : ".js"}`, import.meta.url));
const child = spawn(process.execPath, [...(ts ? ["--import", "tsx"] : []), client], {
  stdio: ["ignore", "inherit", "inherit", socket],
  detached: true,
});
child.unref();
process.stdout.write(`${JSON.stringify({ connector: process.pid, client: child.pid })}\n`);
process.exit(0);
