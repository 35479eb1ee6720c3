import { possessionExporter } from "../../../common/node-api/possession-proof.js";
import type { AgentConnection } from "../../node-auth/possession.js";
import { PossessionError } from "../../node-auth/possession-error.js";
import { callConnection } from "./call-connection.js";

/** The call's TLS connection as the proof of possession sees it; POP_NO_TLS when there is none. */
export function agentConnectionOf(call: object): AgentConnection {
  const connection = callConnection(call);
  if (connection === undefined) throw new PossessionError("POP_NO_TLS", "the call did not come over TLS");
  const { session, socket } = connection;
  return {
    key: session,
    exporter: () => possessionExporter(socket),
  };
}
