/** The published shape: the package's own name resolves to the ESM build for
 * `import` and to the CommonJS build for `require`, each with declarations. */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const PKG = path.resolve(__dirname, "../..");
const load = new Function("s", "return import(s)") as (s: string) => Promise<any>;

test("require and import resolve to the CommonJS and ESM builds", async () => {
  const cjs = require("hanoi-redis");
  const cjsOf = require("hanoi-redis/openfeature");
  const esm = await load("hanoi-redis");
  const esmOf = await load("hanoi-redis/openfeature");
  assert.equal(require.resolve("hanoi-redis"), path.join(PKG, "dist/cjs/index.js"));
  for (const m of [cjs, esm]) {
    assert.equal(typeof m.Hanoi, "function");
    assert.equal(typeof m.HanoiError, "function");
    assert.equal(typeof m.FlagNotFound, "function");
    assert.equal(m.OPENFEATURE_REASONS.outside, "DEFAULT");
  }
  assert.notEqual(cjs.Hanoi, esm.Hanoi);
  assert.equal(typeof cjsOf.HanoiProvider, "function");
  assert.equal(typeof esmOf.HanoiProvider, "function");
  for (const f of ["dist/cjs/index.d.ts", "dist/esm/index.d.ts", "dist/cjs/openfeature.d.ts", "dist/esm/openfeature.d.ts"]) {
    assert.ok(existsSync(path.join(PKG, f)), f);
  }
});

test("the package needs nothing at run time but what the application passes", () => {
  const pkg = require(path.join(PKG, "package.json"));
  assert.deepEqual(pkg.dependencies ?? {}, {});
  assert.equal(pkg.peerDependenciesMeta["@openfeature/server-sdk"].optional, true);
});
