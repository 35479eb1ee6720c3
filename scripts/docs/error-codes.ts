import { relative } from "node:path";
import ts from "typescript";
import { HallmarkError } from "../../common/errors.js";

export class ErrorCodeScanError extends HallmarkError<"TSCONFIG_UNREADABLE" | "HALLMARK_ERROR_NOT_FOUND"> {}

/** Where a code is raised: the error class (or `new HallmarkError`) and the file declaring it. */
export interface CodeOrigin {
  readonly raisedBy: string;
  readonly file: string;
}

/**
 * Every error code a user can meet, read from the sources with the TypeScript compiler rather than
 * by matching text, so a code is found however its union is written (an alias, `keyof typeof`, a
 * class narrowing its parent's union) and a string that merely looks like a code is not:
 *
 * 1. each class extending HallmarkError, directly or not: the string literals of its `code`
 *    property's type (`Pkcs11Error`'s `Pkcs11ErrorCode` union);
 * 2. a class whose `code` is a plain `string` (it passes on another party's code, as the admin
 *    CLI's and the agent's node API errors pass on the server's): the literal parts of the code
 *    its `super(...)` calls give, following `const`s, `?:`, `??` and `||`; a template such as
 *    `NODE_API_${status}` becomes the pattern `NODE_API_*`;
 * 3. each `new HallmarkError(code, ...)`: the literal parts of `code`, the same way.
 *
 * A code passed through from elsewhere (a parameter, a gRPC trailer) has no literal here: it is
 * found where it is made.
 */
export function extractErrorCodes(
  program: ts.Program,
  root: string,
  isScanned: (sourceFile: ts.SourceFile) => boolean,
): Map<string, CodeOrigin[]> {
  const checker = program.getTypeChecker();
  const hallmarkError = findHallmarkError(program, checker);
  const codes = new Map<string, CodeOrigin[]>();
  const add = (code: string, raisedBy: string, sourceFile: ts.SourceFile): void => {
    const origins = codes.get(code) ?? [];
    const file = relative(root, sourceFile.fileName);
    if (!origins.some((o) => o.raisedBy === raisedBy && o.file === file)) origins.push({ raisedBy, file });
    codes.set(code, origins);
  };

  for (const sourceFile of program.getSourceFiles()) {
    if (sourceFile.isDeclarationFile || !isScanned(sourceFile)) continue;
    const visit = (node: ts.Node): void => {
      if (
        ts.isClassDeclaration(node) &&
        node.name !== undefined &&
        extendsClass(node, hallmarkError, checker)
      ) {
        for (const code of classCodes(node, checker)) add(code, node.name.text, sourceFile);
      }
      if (ts.isNewExpression(node) && resolvedSymbol(node.expression, checker) === hallmarkError) {
        const first = node.arguments?.[0];
        if (first !== undefined) {
          for (const code of literalParts(first, checker)) add(code, "HallmarkError", sourceFile);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sourceFile);
  }
  return codes;
}

function findHallmarkError(program: ts.Program, checker: ts.TypeChecker): ts.Symbol {
  for (const sourceFile of program.getSourceFiles()) {
    if (!sourceFile.fileName.endsWith("/common/errors.ts")) continue;
    for (const statement of sourceFile.statements) {
      if (ts.isClassDeclaration(statement) && statement.name?.text === "HallmarkError") {
        const symbol = checker.getSymbolAtLocation(statement.name);
        if (symbol !== undefined) return symbol;
      }
    }
  }
  throw new ErrorCodeScanError(
    "HALLMARK_ERROR_NOT_FOUND",
    "class HallmarkError was not found in common/errors.ts of the program",
  );
}

function resolvedSymbol(node: ts.Node, checker: ts.TypeChecker): ts.Symbol | undefined {
  const symbol = checker.getSymbolAtLocation(node);
  if (symbol === undefined) return undefined;
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

/** Whether `cls` extends `base`, through any number of classes between. */
function extendsClass(cls: ts.ClassDeclaration, base: ts.Symbol, checker: ts.TypeChecker): boolean {
  const seen = new Set<ts.ClassDeclaration>();
  for (let current: ts.ClassDeclaration | undefined = cls; current !== undefined && !seen.has(current);) {
    seen.add(current);
    const parent = current.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0]
      ?.expression;
    if (parent === undefined) return false;
    const symbol = resolvedSymbol(parent, checker);
    if (symbol === base) return true;
    current = symbol?.declarations?.find(ts.isClassDeclaration);
  }
  return false;
}

function classCodes(cls: ts.ClassDeclaration, checker: ts.TypeChecker): string[] {
  const instance = checker.getTypeAtLocation(cls);
  const property = checker.getPropertyOfType(instance, "code");
  if (property !== undefined) {
    const literals = stringLiterals(checker.getTypeOfSymbolAtLocation(property, cls));
    if (literals !== undefined) return literals;
  }
  const codes: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.SuperKeyword) {
      const first = node.arguments[0];
      if (first !== undefined) codes.push(...literalParts(first, checker));
    }
    // A class declared inside this one makes its own super calls.
    if (!ts.isClassLike(node) || node === cls) ts.forEachChild(node, visit);
  };
  visit(cls);
  return codes;
}

/** The values of a string literal type or a union of them; undefined for any other type. */
function stringLiterals(type: ts.Type): string[] | undefined {
  const values: string[] = [];
  for (const part of type.isUnion() ? type.types : [type]) {
    if (!part.isStringLiteral()) return undefined;
    values.push(part.value);
  }
  return values.length === 0 ? undefined : values;
}

/** The codes an expression can produce, as far as its literals show; `*` stands for a template's holes. */
export function literalParts(expr: ts.Expression, checker: ts.TypeChecker, depth = 0): string[] {
  const literals = stringLiterals(checker.getTypeAtLocation(expr));
  if (literals !== undefined) return literals;
  if (depth > 20) return [];
  const next = (e: ts.Expression): string[] => literalParts(e, checker, depth + 1);
  if (ts.isParenthesizedExpression(expr) || ts.isAsExpression(expr) || ts.isNonNullExpression(expr)) {
    return next(expr.expression);
  }
  if (ts.isConditionalExpression(expr)) return [...next(expr.whenTrue), ...next(expr.whenFalse)];
  if (
    ts.isBinaryExpression(expr) &&
    (expr.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken ||
      expr.operatorToken.kind === ts.SyntaxKind.BarBarToken)
  ) {
    return [...next(expr.left), ...next(expr.right)];
  }
  if (ts.isTemplateExpression(expr)) {
    return [expr.head.text + expr.templateSpans.map((span) => `*${span.literal.text}`).join("")];
  }
  if (ts.isIdentifier(expr)) {
    const declaration = resolvedSymbol(expr, checker)?.valueDeclaration;
    if (
      declaration !== undefined &&
      ts.isVariableDeclaration(declaration) &&
      declaration.initializer !== undefined &&
      ts.getCombinedNodeFlags(declaration) & ts.NodeFlags.Const
    ) {
      return next(declaration.initializer);
    }
  }
  return [];
}

/** The project as `tsc -p` sees it, from the tsconfig.json in `root`. */
export function projectProgram(root: string): ts.Program {
  const configPath = ts.findConfigFile(root, (path) => ts.sys.fileExists(path), "tsconfig.json");
  const read =
    configPath === undefined ? undefined : ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (configPath === undefined || read === undefined || read.error !== undefined) {
    throw new ErrorCodeScanError("TSCONFIG_UNREADABLE", `no readable tsconfig.json in ${root}`);
  }
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root);
  return ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, noEmit: true } });
}

/**
 * The files whose codes reach a user: hallmark's code, not its tests, their test doubles
 * (`testdata/`), the cross-component tests and fixtures (`test/`), or the developer tools that
 * never run in front of an operator (the benchmarks, this docs generator).
 */
export function isUserFacingSource(root: string): (sourceFile: ts.SourceFile) => boolean {
  return (sourceFile) => {
    const path = relative(root, sourceFile.fileName);
    return !(
      path.startsWith("..") ||
      path.startsWith("node_modules/") ||
      path.startsWith("test/") ||
      path.startsWith("scripts/bench/") ||
      path.startsWith("scripts/docs/") ||
      path.endsWith(".test.ts") ||
      path.split("/").includes("testdata")
    );
  };
}
