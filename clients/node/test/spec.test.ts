/** OpenFeature's evaluation suite through HanoiProvider: @cucumber/cucumber
 * runs the vendored feature file with the steps of test/spec/steps.ts. Every
 * scenario passes except those hanoi cannot express (steps.ts: CANNOT),
 * which are skipped. */

import assert from "node:assert/strict";
import * as path from "node:path";
import { test } from "node:test";

import { loadConfiguration, runCucumber } from "@cucumber/cucumber/api";

const ROOT = path.resolve(__dirname, "../../../..");

test("OpenFeature's evaluation_v2.feature through HanoiProvider (cucumber)", async () => {
  const counts: Record<string, number> = {};
  const { runConfiguration } = await loadConfiguration({
    provided: {
      paths: [path.join(ROOT, "clients/python/tests/openfeature_spec/evaluation_v2.feature")],
      require: [path.join(__dirname, "spec/steps.js")],
      format: ["summary"],
      strict: true,
    },
  });
  const { success } = await runCucumber(runConfiguration, undefined, (envelope) => {
    const status = envelope.testStepFinished?.testStepResult.status;
    if (status) counts[status] = (counts[status] ?? 0) + 1;
  });
  assert.ok(success, JSON.stringify(counts));
  assert.equal(counts.FAILED ?? 0, 0);
  assert.equal(counts.UNDEFINED ?? 0, 0);
});
