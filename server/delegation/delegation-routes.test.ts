import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { route } from "./delegation-routes.js";

const documents = { jwks: () => ({ keys: [] }), discovery: () => ({ issuer: "https://h:1" }) };

describe("delegation endpoint routes", () => {
  it("serves the documents to GET and HEAD, cacheable", () => {
    for (const method of ["GET", "HEAD"]) {
      assert.deepEqual(route(method, "/.well-known/jwks.json", documents), {
        status: 200,
        body: { keys: [] },
        cacheControl: "max-age=300",
      });
    }
    assert.equal(route("GET", "/.well-known/openid-configuration", documents).status, 200);
  });

  it("answers 501 temporarily_unavailable, not stored, for the parts still to come", () => {
    for (const [method, path] of [
      ["POST", "/token"],
      ["POST", "/introspect"],
      ["GET", "/revocations"],
    ] as const) {
      const answer = route(method, path, documents);
      assert.equal(answer.status, 501);
      assert.equal(answer.cacheControl, "no-store");
      assert.equal((answer.body as { error: string }).error, "temporarily_unavailable");
    }
  });

  it("answers 405 with Allow for a known path and another method", () => {
    assert.deepEqual(route("GET", "/token", documents).allow, ["POST"]);
    assert.equal(route("DELETE", "/.well-known/jwks.json", documents).status, 405);
  });

  it("answers 404 for anything else, including a path that only resembles one", () => {
    assert.equal(route("GET", "/.well-known/jwks.json/", documents).status, 404);
    assert.equal(route("GET", "/", documents).status, 404);
  });
});
