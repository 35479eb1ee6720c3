import { Command } from "commander";
import type { X509Certificate } from "node:crypto";
import type { OutputFormat } from "../../common/cli/output.js";
import { backoffDelayMs, type BackoffPolicy } from "../../common/backoff.js";
import { abortable } from "../../common/deadline.js";
import { randomFraction } from "../../common/random.js";
import { WorkloadApiClientError, type X509Context } from "../workload-client/index.js";
import {
  addApiOptions,
  isoTime,
  withWorkloadApi,
  type ApiCommonOptions,
  type ResolvedApiIo,
} from "./api-options.js";

/**
 * Between a lost stream and the next try. The agent pushes changes on an open stream, so this only
 * paces a workload without an identity (or an agent restarting), as go-spiffe's watcher does.
 */
export const WATCH_RETRY: BackoffPolicy = { baseMs: 1_000, maxMs: 10_000 };

/** One thing `api watch` reports, a line each. */
export type WatchEvent =
  | { readonly event: "update"; readonly at: number; readonly context: X509Context }
  | { readonly event: "no_identity" | "reconnecting"; readonly at: number; readonly message: string };

/**
 * `hallmark-agent api watch`: keeps a FetchX509SVID stream open and prints a line per message (the
 * SVIDs it holds and their expiry), until Ctrl-C or `--timeout` (both exit 0). Like go-spiffe's
 * watcher it waits out PermissionDenied (no identity yet, or the last entry was deleted) and an
 * agent that went away, trying again with backoff; but when the very first connection fails, it
 * exits 1 at once, naming the socket: the path is more likely wrong than the agent restarting.
 */
export function watchCommand(io: ResolvedApiIo): Command {
  return addApiOptions(
    new Command("watch").description(
      "watch this process's X.509-SVIDs (FetchX509SVID stream): a line per update, until Ctrl-C or --timeout",
    ),
    undefined,
  ).action(async (opts: ApiCommonOptions) => {
    const print = (e: WatchEvent): void => io.out.write(`${renderWatchEvent(e, opts.output)}\n`);
    await withWorkloadApi(opts, io, async (client, signal) => {
      let answered = false;
      let failures = 0;
      let lastProblem: string | undefined;
      for (;;) {
        try {
          await client.watchX509Contexts(
            (context) => {
              answered = true;
              failures = 0;
              lastProblem = undefined;
              print({ event: "update", at: io.clock.nowMs(), context });
            },
            { signal },
          );
          lastProblem = "reconnecting";
          print({ event: "reconnecting", at: io.clock.nowMs(), message: "the agent ended the stream" });
        } catch (err) {
          if (signal.aborted) return; // --timeout or Ctrl-C: the watch is over, as asked.
          if (!(err instanceof WorkloadApiClientError)) throw err;
          const event = watchProblem(err, answered);
          if (event === undefined) throw err;
          answered = true;
          // One line per change of state, not one per retry.
          if (lastProblem !== event) print({ event, at: io.clock.nowMs(), message: err.message });
          lastProblem = event;
        }
        failures++;
        const delay = backoffDelayMs(failures, WATCH_RETRY, randomFraction(io.random));
        try {
          await abortable(io.clock.sleep(delay), signal, "waiting to watch again");
        } catch {
          return;
        }
      }
    });
  });
}

/** Which failures a watch outlives; undefined: the watch ends with the error. */
function watchProblem(
  err: WorkloadApiClientError,
  answeredBefore: boolean,
): "no_identity" | "reconnecting" | undefined {
  switch (err.code) {
    case "NO_IDENTITY":
      return "no_identity";
    case "AGENT_UNREACHABLE":
    case "WORKLOAD_API_UNAVAILABLE":
      return answeredBefore ? "reconnecting" : undefined;
    case "JWT_SVID_INVALID":
    case "REQUEST_REFUSED":
    case "MALFORMED_RESPONSE":
    case "INVALID_ENDPOINT_SOCKET":
    case "WORKLOAD_API_FAILED":
      return undefined;
  }
}

/** A line of `api watch` output: readable, or (`--output json`) one JSON document per line. */
export function renderWatchEvent(e: WatchEvent, format: OutputFormat): string {
  if (e.event !== "update") {
    if (format === "json") return JSON.stringify({ event: e.event, at: isoTime(e.at), message: e.message });
    const what = e.event === "no_identity" ? "no identity, waiting for one" : "reconnecting";
    return `${isoTime(e.at)} ${what}: ${e.message}`;
  }
  const svids = e.context.svids.map((svid) => {
    const leaf = svid.chain[0] as X509Certificate;
    return {
      spiffe_id: svid.spiffeId.toString(),
      hint: svid.hint,
      serial: leaf.serialNumber,
      expires_at: isoTime(Date.parse(leaf.validTo)),
    };
  });
  if (format === "json") return JSON.stringify({ event: "update", at: isoTime(e.at), svids });
  const list = svids
    .map(
      (s) =>
        `${s.spiffe_id}${s.hint === "" ? "" : ` [${s.hint}]`} (serial ${s.serial}, expires ${s.expires_at})`,
    )
    .join("; ");
  return `${isoTime(e.at)} ${svids.length} X.509-SVID${svids.length === 1 ? "" : "s"}: ${list}`;
}
