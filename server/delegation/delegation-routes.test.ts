import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { route } from "./delegation-routes.js";
import type { JsonAnswer } from "./json-answer.js";

const documents = { jwks: () => ({ keys: [] }), discovery: () => ({ issuer: "https://h:1" }) };

function answer(method: string, path: string, served?: ReadonlySet<string>): JsonAnswer {
  const routed = route(method, path, documents, served);
  assert.ok("answer" in routed, `${method} ${path} is answered by the routes, not served by a handler`);
  return routed.answer;
}

describe("delegation endpoint routes", () => {
  it("serves the documents to GET and HEAD, cacheable", () => {
    for (const method of ["GET", "HEAD"]) {
      assert.deepEqual(answer(method, "/.well-known/jwks.json"), {
        status: 200,
        body: { keys: [] },
        cacheControl: "max-age=300",
      });
    }
    assert.equal(answer("GET", "/.well-known/openid-configuration").status, 200);
  });

  it("answers 501 temporarily_unavailable, not stored, for a handled path without its handler", () => {
    for (const [method, path] of [
      ["POST", "/token"],
      ["POST", "/introspect"],
      ["GET", "/revocations"],
    ] as const) {
      const answered = answer(method, path);
      assert.equal(answered.status, 501);
      assert.equal(answered.cacheControl, "no-store");
      assert.equal((answered.body as { error: string }).error, "temporarily_unavailable");
    }
  });

  it("hands a handled path to its handler when there is one, with its method only", () => {
    const served = new Set(["/token", "/introspect", "/revocations"]);
    assert.deepEqual(route("POST", "/token", documents, served), { serve: "/token" });
    assert.deepEqual(route("POST", "/introspect", documents, served), { serve: "/introspect" });
    assert.deepEqual(route("GET", "/revocations", documents, served), { serve: "/revocations" });
    assert.equal(answer("POST", "/revocations", served).status, 405);
  });

  it("answers 405 with Allow for a known path and another method", () => {
    assert.deepEqual(answer("GET", "/token").allow, ["POST"]);
    assert.equal(answer("DELETE", "/.well-known/jwks.json").status, 405);
  });

  it("answers 404 for anything else, including a path that only resembles one", () => {
    assert.equal(answer("GET", "/.well-known/jwks.json/").status, 404);
    assert.equal(answer("GET", "/").status, 404);
    assert.equal(answer("GET", "/toString").status, 404);
  });
});
