/** A one-method gRPC service for the tests: the handler answers with what it learned of the caller. */
import { once } from "node:events";
import { Client, credentials, type ServiceDefinition, type ServiceError } from "@grpc/grpc-js";

export interface WhoAmIReply {
  pid: number;
  uid: number;
  gid: number;
  groups: number[] | null;
  pidfdSource: string;
  /** The Uid line of /proc/<pid>/status, read through PeerProcess.read. */
  procUid: string;
}

/** What a client child prints: one JSON line. */
export type WhoAmIOutcome = { reply: WhoAmIReply } | { error: { code: number; details: string } };

const WHO_AM_I_PATH = "/hallmark.test.PeerCred/WhoAmI";
const serialize = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Buffer): unknown => JSON.parse(bytes.toString("utf8"));

export const whoAmIService: ServiceDefinition = {
  whoAmI: {
    path: WHO_AM_I_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
  },
};

/**
 * Calls WhoAmI on `target` with a real grpc-js client. With `waitForSignal` it first prints
 * {"ready":pid} and waits for SIGUSR2 (not SIGUSR1, which would start Node's inspector).
 */
export async function callWhoAmI(target: string, waitForSignal: boolean): Promise<WhoAmIOutcome> {
  const client = new Client(target, credentials.createInsecure());
  if (waitForSignal) {
    const signalled = once(process, "SIGUSR2");
    process.stdout.write(`${JSON.stringify({ ready: process.pid })}\n`);
    await signalled;
  }
  const outcome = await new Promise<WhoAmIOutcome>((resolve) => {
    client.makeUnaryRequest(
      WHO_AM_I_PATH,
      serialize,
      (bytes: Buffer) => deserialize(bytes) as WhoAmIReply,
      {},
      { deadline: Date.now() + 20_000 },
      (err: ServiceError | null, reply?: WhoAmIReply) => {
        if (err) resolve({ error: { code: err.code, details: err.details } });
        else if (reply) resolve({ reply });
      },
    );
  });
  client.close();
  return outcome;
}
