import { Command, InvalidArgumentError, Option } from "commander";
import type { KeyObject } from "node:crypto";
import { text } from "node:stream/consumers";
import { printResult, renderFields } from "../../common/cli/output.js";
import { curveByNodeName } from "../../common/crypto/curves.js";
import { HallmarkError } from "../../common/errors.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import type { JwtBundleRecord, JwtSvidRecord, ValidatedJwtSvid } from "../workload-client/index.js";
import {
  DEFAULT_API_TIMEOUT,
  addApiOptions,
  isoTime,
  withWorkloadApi,
  type ApiCommonOptions,
  type ResolvedApiIo,
} from "./api-options.js";

/** `hallmark-agent api fetch jwt --audience A [--audience B] [--spiffe-id ID]`. */
export function fetchJwtCommand(io: ResolvedApiIo): Command {
  return addApiOptions(
    new Command("jwt")
      .description("fetch JWT-SVIDs for an audience (FetchJWTSVID); prints the tokens")
      .addOption(
        new Option("--audience <audience>", "the audience the token is for (repeat for several)")
          .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
          .makeOptionMandatory(),
      )
      .addOption(
        new Option(
          "--spiffe-id <id>",
          "only the JWT-SVID of this identity (default: every identity)",
        ).argParser(parseSpiffeIdFlag),
      ),
    DEFAULT_API_TIMEOUT,
  ).action(async (opts: ApiCommonOptions & { audience: string[]; spiffeId?: string }) => {
    const svids = await withWorkloadApi(opts, io, (client, signal) =>
      client.fetchJwtSvids({ audience: opts.audience, spiffeId: opts.spiffeId }, { signal }),
    );
    // The tokens are this command's output, asked for by the user: printed, never logged.
    printResult(opts.output, { svids: svids.map(jwtSvidJson) }, () => jwtSvidsText(svids), io.out);
  });
}

/** `hallmark-agent api fetch jwt-bundles`: the JWKS every JWT-SVID of these trust domains verifies against. */
export function fetchJwtBundlesCommand(io: ResolvedApiIo): Command {
  return addApiOptions(
    new Command("jwt-bundles").description("fetch the JWT bundles (FetchJWTBundles)"),
    DEFAULT_API_TIMEOUT,
  ).action(async (opts: ApiCommonOptions) => {
    const bundles = await withWorkloadApi(opts, io, (client, signal) => client.fetchJwtBundles({ signal }));
    printResult(
      opts.output,
      { bundles: Object.fromEntries(bundles.map((b) => [b.trustDomainId, b.document])) },
      () => jwtBundlesText(bundles),
      io.out,
    );
  });
}

/** `hallmark-agent api validate jwt --audience A --svid TOKEN`: asks the agent whether a token holds. */
export function validateJwtCommand(io: ResolvedApiIo): Command {
  return addApiOptions(
    new Command("jwt")
      .description("validate a JWT-SVID for an audience (ValidateJWTSVID); exit 0 only if valid")
      .requiredOption("--audience <audience>", "the audience the token must be for")
      .requiredOption("--svid <token>", "the JWT-SVID; - reads it from standard input (kept out of ps)"),
    DEFAULT_API_TIMEOUT,
  ).action(async (opts: ApiCommonOptions & { audience: string; svid: string }) => {
    const token = opts.svid === "-" ? (await text(io.stdin)).trim() : opts.svid;
    if (token === "")
      throw new HallmarkError("CLI_USAGE", "--svid -: standard input held no token", {
        category: "invalid_argument",
      });
    const result = await withWorkloadApi(opts, io, (client, signal) =>
      client.validateJwtSvid({ audience: opts.audience, token }, { signal }),
    );
    printResult(opts.output, validatedJson(result), () => validatedText(result), io.out);
  });
}

function parseSpiffeIdFlag(value: string): string {
  try {
    return SpiffeId.parse(value).toString();
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

function jwtSvidJson(svid: JwtSvidRecord): Record<string, unknown> {
  return {
    spiffe_id: svid.spiffeId.toString(),
    hint: svid.hint,
    audience: svid.audience,
    expires_at: isoTime(svid.expiresAtMs),
    token: svid.token,
  };
}

function jwtSvidsText(svids: readonly JwtSvidRecord[]): string[] {
  return svids.flatMap((svid, i) => [
    ...(i > 0 ? [""] : []),
    ...renderFields([
      ["SPIFFE ID", svid.spiffeId.toString()],
      ["Hint", svid.hint === "" ? undefined : svid.hint],
      ["Audience", svid.audience.join(", ")],
      ["Expires", isoTime(svid.expiresAtMs)],
      ["Token", svid.token],
    ]),
  ]);
}

function jwtBundlesText(bundles: readonly JwtBundleRecord[]): string[] {
  if (bundles.length === 0) return ["No JWT bundles."];
  return bundles.flatMap(({ trustDomainId, bundle }, i) => {
    const keys = bundle.jwtAuthorities;
    return [
      ...(i > 0 ? [""] : []),
      `Bundle ${trustDomainId}: ${keys.length} JWT authorit${keys.length === 1 ? "y" : "ies"} (sequence ${bundle.sequence})`,
      ...keys.map((key) => `  ${key.keyId}  ${keyDescription(key.publicKey)}`),
    ];
  });
}

function keyDescription(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec")
    return `EC ${curveByNodeName(details?.namedCurve)?.name ?? details?.namedCurve ?? "unknown curve"}`;
  if (key.asymmetricKeyType === "rsa") return `RSA ${details?.modulusLength ?? "?"} bits`;
  return key.asymmetricKeyType ?? "unknown key type";
}

function validatedJson(result: ValidatedJwtSvid): Record<string, unknown> {
  return { valid: true, spiffe_id: result.spiffeId, claims: result.claims };
}

function validatedText(result: ValidatedJwtSvid): string[] {
  return [
    "SVID is valid.",
    ...renderFields([
      ["SPIFFE ID", result.spiffeId],
      ["Claims", JSON.stringify(result.claims)],
    ]),
  ];
}
