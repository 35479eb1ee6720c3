import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  parseExchangeRequest,
  TOKEN_EXCHANGE_GRANT_TYPE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "./exchange-request.js";

const BASE: Record<string, string> = {
  grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
  subject_token: "user.jwt.token",
  subject_token_type: TOKEN_TYPE_JWT,
  actor_token: "actor.jwt.svid",
  actor_token_type: TOKEN_TYPE_JWT,
  scope: "orders:read  orders:read orders:write",
};

const parse = (extra: [string, string][] = [], drop: string[] = []) => {
  const form = new URLSearchParams(Object.entries(BASE).filter(([k]) => !drop.includes(k)));
  for (const [k, v] of extra) form.append(k, v);
  return parseExchangeRequest(form);
};

describe("parseExchangeRequest", () => {
  it("reads a token exchange: scopes once each, audience and resource together, elevation off", () => {
    const request = parse([
      ["audience", "https://a"],
      ["resource", "https://b"],
      ["audience", "https://a"],
      ["unknown", "ignored"],
    ]);
    assert.deepEqual(request, {
      subjectToken: "user.jwt.token",
      subjectKind: "user",
      actorToken: "actor.jwt.svid",
      audiences: ["https://a", "https://b"],
      scopes: ["orders:read", "orders:write"],
      elevation: false,
      elevationReason: "",
    });
  });

  it("reads a delegation token as subject and an elevation with its reason", () => {
    const form = new URLSearchParams({ ...BASE, subject_token_type: TOKEN_TYPE_ACCESS_TOKEN });
    form.set("requested_elevation", "true");
    form.set("hallmark_elevation_reason", "book the flight alice asked for");
    const request = parseExchangeRequest(form);
    assert.equal(request.subjectKind, "delegation");
    assert.equal(request.elevation, true);
    assert.equal(request.elevationReason, "book the flight alice asked for");
  });

  it("refuses each missing required parameter, naming it; an empty one counts as missing", () => {
    for (const name of Object.keys(BASE)) {
      assert.throws(() => parse([], [name]), {
        code: "EXCHANGE_PARAMETER_MISSING",
        message: new RegExp(name),
      });
    }
    assert.throws(() => parseExchangeRequest(new URLSearchParams({ ...BASE, actor_token: "" })), {
      code: "EXCHANGE_PARAMETER_MISSING",
    });
  });

  it("refuses a repeated parameter other than audience and resource", () => {
    for (const name of ["subject_token", "actor_token", "scope", "grant_type"]) {
      assert.throws(() => parse([[name, "again"]]), {
        code: "EXCHANGE_PARAMETER_REPEATED",
        message: new RegExp(name),
      });
    }
  });

  it("refuses another grant type, token types it does not take, bad scope and bad elevation values", () => {
    const form = (over: Record<string, string>) => new URLSearchParams({ ...BASE, ...over });
    assert.throws(() => parseExchangeRequest(form({ grant_type: "client_credentials" })), {
      code: "EXCHANGE_GRANT_TYPE_UNSUPPORTED",
    });
    assert.throws(
      () => parseExchangeRequest(form({ subject_token_type: "urn:ietf:params:oauth:token-type:id_token" })),
      { code: "EXCHANGE_TOKEN_TYPE_UNSUPPORTED" },
    );
    assert.throws(() => parseExchangeRequest(form({ actor_token_type: TOKEN_TYPE_ACCESS_TOKEN })), {
      code: "EXCHANGE_TOKEN_TYPE_UNSUPPORTED",
    });
    assert.throws(() => parseExchangeRequest(form({ scope: 'a "b"' })), { code: "SCOPE_MALFORMED" });
    assert.throws(() => parseExchangeRequest(form({ scope: "   " })), { code: "SCOPE_MALFORMED" });
    assert.throws(() => parseExchangeRequest(form({ requested_elevation: "yes" })), {
      code: "EXCHANGE_PARAMETER_INVALID",
    });
    assert.throws(() => parseExchangeRequest(form({ hallmark_elevation_reason: "a\nb" })), {
      code: "EXCHANGE_PARAMETER_INVALID",
    });
    assert.throws(() => parseExchangeRequest(form({ hallmark_elevation_reason: "x".repeat(501) })), {
      code: "EXCHANGE_PARAMETER_INVALID",
    });
  });
});
