/** A grpc-js client process: `grpc-client <target> [on-sigusr1]` calls WhoAmI once and prints the outcome. */
import { callWhoAmI } from "./who-am-i-service.js";

const [target, mode] = process.argv.slice(2);
if (target === undefined) throw new Error("usage: grpc-client <target> [on-sigusr1]");
await callWhoAmI(target, mode === "on-sigusr1");
