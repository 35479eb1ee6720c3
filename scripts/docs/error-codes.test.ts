import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ts from "typescript";
import { extractErrorCodes, isUserFacingSource } from "./error-codes.js";

const ROOT = "/virtual";

/** A program over these sources (paths under ROOT), with TypeScript's own lib files from disk. */
function programOf(files: Record<string, string>): ts.Program {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    types: [],
  };
  const sources = new Map(Object.entries(files).map(([path, text]) => [`${ROOT}/${path}`, text]));
  // NodeNext resolves `./x.js` to `./x.ts`.
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const text = sources.get(fileName);
    return text === undefined
      ? getSourceFile(fileName, languageVersion, ...rest)
      : ts.createSourceFile(fileName, text, languageVersion);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => sources.has(fileName) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => sources.get(fileName) ?? readFile(fileName);
  const directoryExists = host.directoryExists?.bind(host);
  host.directoryExists = (dir) =>
    [...sources.keys()].some((path) => path.startsWith(`${dir}/`)) || (directoryExists?.(dir) ?? false);
  host.getCurrentDirectory = () => ROOT;
  return ts.createProgram({ rootNames: [...sources.keys()], options, host });
}

const ERRORS_TS = `
export class HallmarkError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string) { super(message); this.code = code; }
}`;

function codesOf(files: Record<string, string>): Record<string, string[]> {
  const program = programOf({ "common/errors.ts": ERRORS_TS, ...files });
  const codes = extractErrorCodes(program, ROOT, isUserFacingSource(ROOT));
  return Object.fromEntries(
    [...codes]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([code, origins]) => [code, origins.map((o) => `${o.raisedBy}@${o.file}`)]),
  );
}

describe("extractErrorCodes", () => {
  it("reads each HallmarkError class's code union, however it is written", () => {
    const codes = codesOf({
      "native/hsm/errors.ts": `
        import { HallmarkError } from "../../common/errors.js";
        export type HsmErrorCode = "HSM_PIN_INCORRECT" | "HSM_TOKEN_ABSENT";
        export class HsmError extends HallmarkError<HsmErrorCode> {}
        const CODES = { TPM_A: 1, TPM_B: 2 } as const;
        export class TpmError extends HallmarkError<keyof typeof CODES> {}
        export class SingleError extends HallmarkError<"SINGLE"> {
          constructor() { super("SINGLE", "one"); }
        }`,
      "server/db/errors.ts": `
        import { HallmarkError as Base } from "../../common/errors.js";
        import { HsmError } from "../../native/hsm/errors.js";
        export class DbError extends Base<"DB_CLOSED"> {}
        // A subclass of a subclass: its codes are its parent's.
        export class LockedPinError extends HsmError {}`,
    });
    assert.deepEqual(codes, {
      DB_CLOSED: ["DbError@server/db/errors.ts"],
      HSM_PIN_INCORRECT: ["HsmError@native/hsm/errors.ts", "LockedPinError@server/db/errors.ts"],
      HSM_TOKEN_ABSENT: ["HsmError@native/hsm/errors.ts", "LockedPinError@server/db/errors.ts"],
      SINGLE: ["SingleError@native/hsm/errors.ts"],
      TPM_A: ["TpmError@native/hsm/errors.ts"],
      TPM_B: ["TpmError@native/hsm/errors.ts"],
    });
  });

  it("reads the literal parts of what a string-coded class passes to super, and of new HallmarkError", () => {
    const codes = codesOf({
      "agent/node/errors.ts": `
        import { HallmarkError } from "../../common/errors.js";
        export class PassThroughError extends HallmarkError<string> {
          constructor(serverCode: string | undefined, status: number, unreachable: boolean) {
            const code = serverCode ?? \`REMOTE_\${status}_FAILED\`;
            super(unreachable ? "REMOTE_UNREACHABLE" : code, "failed");
          }
        }
        export function refuse(banned: boolean): never {
          throw new HallmarkError(banned ? "BANNED" : "REFUSED", "no");
        }
        export const usage = () => new HallmarkError("CLI_USAGE", "bad flag");`,
    });
    assert.deepEqual(Object.keys(codes), [
      "BANNED",
      "CLI_USAGE",
      "REFUSED",
      "REMOTE_*_FAILED",
      "REMOTE_UNREACHABLE",
    ]);
    assert.deepEqual(codes["REMOTE_*_FAILED"], ["PassThroughError@agent/node/errors.ts"]);
    assert.deepEqual(codes["BANNED"], ["HallmarkError@agent/node/errors.ts"]);
  });

  it("ignores tests, test doubles, fixtures, the docs generator, other classes with a code, and code-like strings", () => {
    const raising = (name: string, code: string): string => `
      import { HallmarkError } from "../../common/errors.js";
      export class ${name} extends HallmarkError<"${code}"> {}`;
    const codes = codesOf({
      "server/ca/ca.test.ts": raising("InTestError", "IN_TEST"),
      "server/ca/testdata/fake.ts": raising("FakeError", "IN_TESTDATA"),
      "test/fixtures/x.ts": raising("FixtureError", "IN_FIXTURE"),
      "scripts/docs/gen.ts": raising("GenError", "IN_GENERATOR"),
      "server/ca/other.ts": `
        export class NotHallmark extends Error { readonly code = "NOT_HALLMARK" as const; }
        export const looksLikeACode = "LOOKS_LIKE_A_CODE";`,
    });
    assert.deepEqual(codes, {});
  });
});
