import assert from "node:assert/strict";
import { ConfigError } from "../load.js";

/** The problems a config parser names for a refused config; fails the test if it is accepted. */
export function configProblems(parse: () => unknown): readonly string[] {
  try {
    parse();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail("expected the config to be refused");
}
