import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { repoRoot } from "../fixtures/hallmark-binaries.js";
import { run } from "../fixtures/processes.js";
import { SERVED_PROTO_FILES } from "../../agent/workload-api/proto-files.js";
import { parseCopy, parseStages, workdirAt, type Stage } from "./dockerfile.js";
import { parseDockerignore } from "./dockerignore.js";
import { runtimeImportClosure } from "./import-closure.js";

// Docker cannot be installed on the development machine or in CI, so the image is never built
// here. These are the checks that need no Docker: what each stage is built from, who the final
// stage runs as, that every COPY names something that will be there, and that the binaries the
// image links are the ones package.json declares.

const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const stages = parseStages(dockerfile);
const ignored = parseDockerignore(readFileSync(join(repoRoot, ".dockerignore"), "utf8"));
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};
const tsconfig = JSON.parse(readFileSync(join(repoRoot, "tsconfig.json"), "utf8")) as {
  compilerOptions: { outDir: string; rootDir: string };
  include: string[];
};

function stageNamed(name: string): Stage {
  const stage = stages.find((s) => s.name === name);
  assert.ok(stage, `no stage named ${name}`);
  return stage;
}

function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === "RUN").map((i) => i.rest);
}

/** Where, inside a stage, a path copied from the build context lands, and which repo path it was. */
function contextCopies(stage: Stage): Map<string, string> {
  const placed = new Map<string, string>();
  for (const instruction of stage.instructions.filter((i) => i.keyword === "COPY")) {
    const copy = parseCopy(instruction);
    if (copy.from !== undefined) continue;
    const dest = posix.resolve(workdirAt(stage, instruction), copy.destination);
    for (const source of copy.sources) {
      const intoFolder = copy.destination.endsWith("/") || copy.sources.length > 1;
      placed.set(intoFolder ? posix.join(dest, posix.basename(source)) : dest, source);
    }
  }
  return placed;
}

/**
 * What a RUN of the stage makes, by the folder it makes: npm ci installs node_modules, the build
 * script compiles into tsconfig's outDir.
 */
function producedByRun(stage: Stage): Map<string, string> {
  const workdir = workdirAt(stage, stage.instructions.at(-1)!);
  const made = new Map<string, string>();
  const all = runs(stage).join("\n");
  if (/\bnpm ci\b/.test(all)) made.set(posix.join(workdir, "node_modules"), "npm ci");
  if (/\bnpm run build\b/.test(all))
    made.set(posix.join(workdir, tsconfig.compilerOptions.outDir), "npm run build");
  return made;
}

describe("Dockerfile (checked statically: the image is not built here)", () => {
  it("has a build stage on node:20-bookworm and a final runtime stage on node:20-bookworm-slim", () => {
    assert.deepEqual(
      stages.map((s) => [s.name, s.image]),
      [
        ["build", "node:20-bookworm"],
        ["runtime", "node:20-bookworm-slim"],
      ],
    );
  });

  it("builds with npm ci, npm run build, then npm prune --omit=dev, in that order", () => {
    const commands = runs(stageNamed("build")).join(" && ");
    const at = ["npm ci", "npm run build", "npm prune --omit=dev"].map((c) => commands.indexOf(c));
    assert.ok(
      at.every((i) => i >= 0),
      `missing one of npm ci / run build / prune in: ${commands}`,
    );
    assert.deepEqual(
      [...at].sort((a, b) => a - b),
      at,
      "out of order",
    );
    assert.equal(pkg.scripts.build?.includes(`tsc -p tsconfig.json`), true);
  });

  it("copies into the build stage every folder tsconfig.json compiles, and the lock file npm ci installs from", () => {
    const build = stageNamed("build");
    const placed = contextCopies(build);
    const workdir = workdirAt(build, build.instructions.at(-1)!);
    for (const path of [...tsconfig.include, "tsconfig.json", "package.json", "package-lock.json"]) {
      // At the same relative place as in the repository, where tsconfig.json and npm look for it.
      assert.equal(
        placed.get(posix.join(workdir, path)),
        path,
        `the build stage does not copy ${path} to ./${path}`,
      );
    }
  });

  it("runs the final stage as a fixed non-root UID/GID that the stage itself creates", () => {
    const runtime = stages.at(-1)!;
    const users = runtime.instructions.filter((i) => i.keyword === "USER");
    const user = users.at(-1)?.rest;
    assert.ok(user, "the final stage sets no USER: it would run as root");
    const [uid, gid] = user.split(":");
    assert.match(uid ?? "", /^[1-9]\d*$/, `USER ${user}: a numeric, non-zero UID (a name may not resolve)`);
    assert.match(gid ?? "", /^[1-9]\d*$/, `USER ${user}: a numeric, non-zero GID`);
    const setup = runs(runtime).join("\n");
    assert.match(setup, new RegExp(`groupadd .*--gid ${gid} `));
    assert.match(setup, new RegExp(`useradd .*--uid ${uid} --gid ${gid} `));
    // Its state and runtime folders belong to it; /etc/hallmark (config, mounted read-only) does not.
    assert.match(setup, new RegExp(`chown ${uid}:${gid} /var/lib/hallmark /run/hallmark`));
  });

  it("installs no compiler and no TPM tools in the final stage", () => {
    const setup = runs(stages.at(-1)!).join("\n");
    for (const tool of ["gcc", "g\\+\\+", "make", "build-essential", "python3", "tpm2-tools", "npm ci"]) {
      assert.doesNotMatch(setup, new RegExp(`\\b${tool}\\b`), `${tool} in the runtime stage`);
    }
  });

  it("copies from the build context only files that exist in the repository and .dockerignore keeps", () => {
    const sources = stages.flatMap((stage) =>
      stage.instructions
        .filter((i) => i.keyword === "COPY")
        .map(parseCopy)
        .filter((c) => c.from === undefined)
        .flatMap((c) => c.sources.map((source) => ({ source, line: c.line }))),
    );
    assert.ok(sources.length > 0);
    for (const { source, line } of sources) {
      assert.ok(
        existsSync(join(repoRoot, source)),
        `line ${line}: ${source} does not exist in the repository`,
      );
      assert.ok(!ignored(source), `line ${line}: ${source} is excluded by .dockerignore`);
    }
  });

  it("copies from an earlier stage only what that stage copied in or built", () => {
    stages.forEach((stage, index) => {
      for (const instruction of stage.instructions.filter((i) => i.keyword === "COPY")) {
        const copy = parseCopy(instruction);
        if (copy.from === undefined) continue;
        const earlier = stages.slice(0, index).find((s) => s.name === copy.from);
        assert.ok(earlier, `line ${copy.line}: --from=${copy.from} is not an earlier stage`);
        const copied = contextCopies(earlier);
        const built = producedByRun(earlier);
        for (const source of copy.sources) {
          assert.ok(
            source.startsWith("/"),
            `line ${copy.line}: ${source}: give --from sources as absolute paths`,
          );
          const fromBuild = [...built.keys()].find((dir) => source === dir || source.startsWith(`${dir}/`));
          if (fromBuild !== undefined) continue;
          const placed = [...copied.entries()].find(
            ([dest]) => source === dest || source.startsWith(`${dest}/`),
          );
          assert.ok(placed, `line ${copy.line}: nothing in stage ${copy.from} puts ${source} there`);
          const repoPath = posix.join(placed[1], posix.relative(placed[0], source));
          assert.ok(
            existsSync(join(repoRoot, repoPath)),
            `line ${copy.line}: ${source} would be ${repoPath}, which does not exist`,
          );
        }
      }
    });
  });

  it("links hallmark-server and hallmark-agent to the paths package.json's bin declares, built from sources that exist", () => {
    const runtime = stages.at(-1)!;
    const workdir = workdirAt(runtime, runtime.instructions.at(-1)!);
    const links = runs(runtime).join("\n");
    assert.deepEqual(Object.keys(pkg.bin).sort(), ["hallmark-agent", "hallmark-server"]);
    const outDir = tsconfig.compilerOptions.outDir;
    for (const [name, path] of Object.entries(pkg.bin)) {
      assert.ok(
        links.includes(`ln -s ${posix.join(workdir, path)} /usr/local/bin/${name}`),
        `no link for ${name} → ${path}`,
      );
      assert.ok(path.startsWith(`${outDir}/`), `${name}: ${path} is not under the build's outDir ${outDir}`);
      const source = path.slice(outDir.length + 1).replace(/\.js$/, ".ts");
      assert.ok(
        existsSync(join(repoRoot, source)),
        `${name}: ${path} would be compiled from ${source}, which does not exist`,
      );
    }
    const copiedDist = runtime.instructions
      .filter((i) => i.keyword === "COPY")
      .map(parseCopy)
      .some((c) => c.from === "build" && c.sources.includes(posix.join(workdir, outDir)));
    assert.ok(copiedDist, `the runtime stage does not copy ${outDir}/ from the build stage into ${workdir}`);
  });

  it("gives the runtime what the binaries read besides their modules: package.json and the served .proto files", () => {
    const runtime = stages.at(-1)!;
    const copied = runtime.instructions
      .filter((i) => i.keyword === "COPY")
      .map(parseCopy)
      .flatMap((c) => c.sources);
    assert.ok(copied.includes("/opt/hallmark/package.json"));
    assert.ok(copied.includes("/opt/hallmark/node_modules"));
    for (const file of SERVED_PROTO_FILES) assert.ok(copied.includes(`/opt/hallmark/proto/${file}`), file);
  });

  it("drops the compiled tests from the image, which neither binary loads", () => {
    const build = runs(stageNamed("build")).join("\n");
    assert.match(build, /rm -rf dist\/test dist\/scripts/);
    for (const entry of Object.values(pkg.bin)) {
      const source = entry.slice(tsconfig.compilerOptions.outDir.length + 1).replace(/\.js$/, ".ts");
      const loaded = [...runtimeImportClosure(repoRoot, source)];
      assert.ok(loaded.length > 50, `${source}: the import walk found only ${loaded.length} files`);
      const removed = loaded.filter(
        (f) => f.startsWith("test/") || f.startsWith("scripts/") || f.endsWith(".test.ts"),
      );
      assert.deepEqual(removed, [], `${source} loads files the image drops`);
    }
  });

  it("starts through the entrypoint, which picks the binary by its first argument", async () => {
    const runtime = stages.at(-1)!;
    const entrypoint = runtime.instructions.find((i) => i.keyword === "ENTRYPOINT");
    assert.deepEqual(JSON.parse(entrypoint?.rest ?? "null"), ["/usr/local/bin/hallmark-entrypoint"]);
    const script = contextCopies(runtime).get("/usr/local/bin/hallmark-entrypoint");
    assert.equal(script, "packaging/docker/entrypoint.sh");
    // COPY keeps the context's file mode: the entrypoint must be executable in the repository.
    assert.notEqual(statSync(join(repoRoot, script)).mode & 0o111, 0, `${script} is not executable`);
    const text = readFileSync(join(repoRoot, script), "utf8");
    for (const name of Object.keys(pkg.bin))
      assert.ok(text.includes(`exec /usr/local/bin/${name} "$@"`), name);
    const cmd = runtime.instructions.find((i) => i.keyword === "CMD");
    assert.deepEqual(JSON.parse(cmd?.rest ?? "null"), [
      "server",
      "run",
      "--config",
      "/etc/hallmark/server.yaml",
    ]);

    const none = await run("sh", [join(repoRoot, script)]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /usage: IMAGE server\|agent/);
    const unknown = await run("sh", [join(repoRoot, script), "serve"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'serve'/);
  });
});

describe(".dockerignore reader", () => {
  it("excludes a folder with everything in it, and ** at any depth", () => {
    const matches = parseDockerignore("node_modules\n**/*.log\ndist/\n");
    assert.equal(matches("node_modules"), true);
    assert.equal(matches("node_modules/pg/index.js"), true);
    assert.equal(matches("dist/agent/cli/main.js"), true);
    assert.equal(matches("agent/run/x.log"), true);
    assert.equal(matches("x.log"), true);
    assert.equal(matches("agent/node_modules_notes.md"), false);
    assert.equal(matches("package.json"), false);
  });

  it("refuses exceptions rather than misread them", () => {
    assert.throws(() => parseDockerignore("*\n!package.json\n"), /exceptions are not supported/);
  });
});
