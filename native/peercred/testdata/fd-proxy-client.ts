/**
 * Speaks gRPC over an inherited connection (fd 3): grpc-js can only dial, so it dials a private
 * unix socket whose one connection is piped to fd 3. Calls WhoAmI on SIGUSR2, prints the outcome,
 * exits. Gives up after 30 s so that it never outlives a failed test.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callWhoAmI } from "./who-am-i-service.js";

setTimeout(() => process.exit(3), 30_000).unref();
const upstream = new Socket({ fd: 3, readable: true, writable: true });
const dir = mkdtempSync(join(tmpdir(), "hallmark-fd-proxy-"));
const proxyPath = join(dir, "proxy.sock");
const proxy = createServer((local) => {
  local.pipe(upstream);
  upstream.pipe(local);
});
await new Promise<void>((resolve) => proxy.listen(proxyPath, resolve));
let outcome;
try {
  outcome = await callWhoAmI(`unix:${proxyPath}`, true);
} finally {
  // Before printing: the test may end this process as soon as it has read the outcome.
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(outcome)}\n`);
process.exit(0);
