import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TPM_ALG } from "./constants.js";
import { EkTemplateError, ekHighTemplateParts, ekTemplateEccP384High } from "./ek-templates.js";
import { ekPolicyB } from "./ek-policy.js";
import { SYM_AES_128_CFB } from "./structures/public.js";

describe("EK templates (shared by the agent and the verifier)", () => {
  it("a high-range template for a hash the profile gives no PolicyB is a typed error", () => {
    assert.throws(
      () => ekHighTemplateParts(TPM_ALG.SHA1, SYM_AES_128_CFB),
      (err: unknown) =>
        err instanceof EkTemplateError &&
        err.code === "EK_TEMPLATE_UNDEFINED" &&
        err.category === "invalid_argument",
    );
  });

  it("H-3 carries PolicyB under SHA-384 and AES-256", () => {
    const t = ekTemplateEccP384High();
    assert.equal(t.nameAlg, TPM_ALG.SHA384);
    assert.deepEqual(t.authPolicy, ekPolicyB(TPM_ALG.SHA384));
    assert.deepEqual(t.parameters.symmetric, { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB });
  });
});
