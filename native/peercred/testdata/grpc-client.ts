/** A grpc-js client process: `grpc-client <target> [on-sigusr2]` calls WhoAmI once and prints the outcome. */
import { callWhoAmI } from "./who-am-i-service.js";

const [target, mode] = process.argv.slice(2);
if (target === undefined) throw new Error("usage: grpc-client <target> [on-sigusr2]");
process.stdout.write(`${JSON.stringify(await callWhoAmI(target, mode === "on-sigusr2"))}\n`);
