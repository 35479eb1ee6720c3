import { z } from "zod";
import { errorMessage } from "../errors.js";
import { TrustDomain } from "../spiffe/index.js";

/** `trust_domain`, parsed and checked by common/spiffe: the same key in server.yaml and agent.yaml. */
export const trustDomain = z
  .string()
  .transform((input, ctx) => {
    try {
      return TrustDomain.parse(input);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: errorMessage(err) });
      return z.NEVER;
    }
  })
  .describe("The trust domain (`example.org`).");
