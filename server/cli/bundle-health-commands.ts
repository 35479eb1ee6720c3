import { Command, Option } from "commander";
import { printResult, renderFields } from "../../common/cli/output.js";
import { HallmarkError } from "../../common/errors.js";
import { withAdminClient } from "./admin-client.js";
import { withCommonOptions, type CommonOptions } from "./admin-options.js";

export function bundleCommand(): Command {
  const bundle = new Command("bundle").description("the trust bundle of this server's trust domain");
  withCommonOptions(bundle.command("show").description("print the bundle"))
    .addOption(
      new Option("--format <format>", "pem (X.509 authorities) or spiffe (SPIFFE bundle JSON)")
        .choices(["pem", "spiffe"])
        .default("pem"),
    )
    .action(async (opts: CommonOptions & { format: "pem" | "spiffe" }) => {
      const got = await withAdminClient(opts.socketPath, (client) => client.call("getBundle", {}));
      const text = opts.format === "pem" ? got.pem : got.spiffeJson;
      if (opts.output === "json") {
        printResult(
          "json",
          opts.format === "spiffe" ? (JSON.parse(got.spiffeJson) as unknown) : { pem: got.pem },
          () => [],
        );
      } else {
        process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
      }
    });
  return bundle;
}

export class UnhealthyError extends HallmarkError<"SERVER_UNHEALTHY"> {
  constructor(reason: string) {
    super("SERVER_UNHEALTHY", reason, { category: "unavailable" });
  }
}

export function healthcheckCommand(): Command {
  return withCommonOptions(
    new Command("healthcheck").description("exit 0 when the server can sign and read its data"),
  )
    .option("--verbose", "print the details")
    .action(async (opts: CommonOptions & { verbose?: boolean }) => {
      const health = await withAdminClient(opts.socketPath, (client) => client.call("getHealth", {}));
      printResult(opts.output, health, (h) =>
        opts.verbose === true
          ? renderFields([
              ["Healthy", h.healthy],
              ["CA healthy", h.caHealthy],
              ["CA failures in a row", h.caConsecutiveFailures],
              ["CA last error", h.caLastError || undefined],
              ["Datastore reachable", h.datastoreReachable],
              ["Datastore error", h.datastoreError || undefined],
            ])
          : [h.healthy ? "Server is healthy." : "Server is unhealthy."],
      );
      if (!health.healthy) {
        const reasons = [
          health.caHealthy ? undefined : `CA: ${health.caLastError || "no active key"}`,
          health.datastoreReachable ? undefined : `datastore: ${health.datastoreError}`,
        ].filter((r) => r !== undefined);
        throw new UnhealthyError(reasons.join("; "));
      }
    });
}
