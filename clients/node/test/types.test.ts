/** The published package's types, as an application sees them: `npm pack`,
 * the tarball installed into a tiny consumer project, and `tsc --strict`
 * over it with each of TypeScript's module resolutions (`node`, `node16`,
 * `nodenext`, `bundler`). `node` (node10) ignores `exports`: without
 * `typesVersions` it cannot find `hanoi-redis/openfeature` (TS2307). */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const PKG = path.resolve(__dirname, "../..");
// Inside the package's own directory, so the consumer finds TypeScript and
// @openfeature/server-sdk (the optional peer) in clients/node/node_modules.
const DIR = path.join(PKG, "build", "consumer");
const tsc = require.resolve("typescript/bin/tsc");

const CONSUMER = `import { Hanoi, HanoiError, type Resolution } from "hanoi-redis";
import { HanoiProvider, type HanoiProviderOptions } from "hanoi-redis/openfeature";

export function make(redis: unknown): [Hanoi, HanoiProvider] {
  const options: HanoiProviderOptions = { prefix: "flags:", timeoutMs: 500 };
  return [new Hanoi(redis), new HanoiProvider(redis, options)];
}
export async function why(flags: Hanoi): Promise<Resolution["reason"] | string> {
  try {
    return (await flags.resolve("f", "1")).reason;
  } catch (e) {
    return e instanceof HanoiError ? e.message : "?";
  }
}
`;

/** module / moduleResolution pairs, and whether the consumer is ESM. */
const CASES: [string, string, string][] = [
  ["node", "commonjs", "node"],
  ["node16", "node16", "node16"],
  ["nodenext", "nodenext", "nodenext"],
  ["bundler", "esnext", "bundler"],
];

test("the packed tarball type-checks with every moduleResolution (tsc --strict)", () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const run = (cmd: string, args: string[], cwd = DIR) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: "pipe" });
  run("npm", ["pack", "--silent", "--pack-destination", DIR], PKG);
  const tgz = readdirSync(DIR).find((f) => f.endsWith(".tgz"));
  assert.ok(tgz, "npm pack wrote no tarball");
  writeFileSync(path.join(DIR, "package.json"), JSON.stringify({ name: "consumer", private: true, version: "0.0.0" }));
  run("npm", ["install", "--offline", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock", `./${tgz}`]);
  writeFileSync(path.join(DIR, "index.ts"), CONSUMER);
  const failures: string[] = [];
  for (const [name, module, resolution] of CASES) {
    const config = `tsconfig.${name}.json`;
    writeFileSync(
      path.join(DIR, config),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module, moduleResolution: resolution, target: "ES2020", types: ["node"], skipLibCheck: false },
        files: ["index.ts"],
      }),
    );
    try {
      run(process.execPath, [tsc, "-p", config]);
    } catch (e) {
      const out = e as { stdout?: string; stderr?: string };
      failures.push(`moduleResolution ${resolution}:\n${out.stdout ?? ""}${out.stderr ?? ""}`);
    }
  }
  assert.deepEqual(failures, []);
});

test("the published package has no prepare script (npm 11 refuses it): make node builds", () => {
  const pkg = require(path.join(PKG, "package.json"));
  assert.equal(pkg.scripts.prepare, undefined);
  assert.ok(pkg.typesVersions, "typesVersions (moduleResolution node)");
});
