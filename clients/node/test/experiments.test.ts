/** Experiments (issue 35): Hanoi.assign/track/startExperiment/stopExperiment/
 * experimentResults/exposures/iterExposures on every client kind, and the
 * provider's `experiments` option (ASSIGN instead of RESOLVE) and `track`
 * (HANOI.TRACK), read back with RESULTS. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { OpenFeature } from "@openfeature/server-sdk";

import { Hanoi, HanoiError } from "../src/index.js";
import { HanoiProvider } from "../src/openfeature.js";
import { experimentResults } from "../src/replies.js";
import { type Client, KINDS, Server, client } from "./server.js";

const IDS = Array.from({ length: 30 }, (_, i) => `u${i}`);

let server: Server;
before(async () => {
  server = await Server.start();
});
after(async () => {
  await server?.stop();
});

for (const kind of KINDS) {
  describe(`experiments over ${kind}`, () => {
    let c: Client;
    let flags: Hanoi;
    const prefix = `x-${kind}:`;
    before(async () => {
      c = await client(kind, server.port);
      flags = new Hanoi(c.redis, { prefix });
    });
    after(async () => {
      await c.close();
    });

    test("assign, track, results, exposures, stop and reset", async () => {
      await flags.define("checkout", { percentage: 100, variants: ["one_page", "two_pages"] });
      await flags.block("checkout", "vip");
      await flags.startExperiment("checkout", { metrics: ["bought", "revenue"], control: "one_page" });
      const arms: Record<string, string> = {};
      for (const id of IDS) {
        const a = await flags.assign("checkout", id);
        assert.equal(a.enabled, true);
        assert.ok(a.reason === "all" || a.reason === "percentage");
        assert.equal(a.value, a.variant);
        arms[id] = a.variant!;
      }
      assert.equal((await flags.assign("checkout", "vip")).reason, "blocked");
      for (const id of IDS.slice(0, 10)) assert.equal(await flags.track("checkout", id, "bought"), true);
      for (const id of IDS.slice(0, 4)) assert.equal(await flags.track("checkout", id, "revenue", 1999), true);
      assert.equal(await flags.track("checkout", "vip", "bought"), false);
      assert.equal(await flags.track("checkout", IDS[0]!, "refunded"), false);
      await assert.rejects(flags.track("checkout", IDS[0]!, "revenue", 1.5), RangeError);

      const results = (await flags.experimentResults("checkout"))!;
      assert.deepEqual(
        results.map((a) => [a.arm, a.control]),
        [
          ["one_page", true],
          ["two_pages", false],
        ],
      );
      for (const a of results) {
        const mine = IDS.filter((i) => arms[i] === a.arm);
        const payers = IDS.slice(0, 4).filter((i) => arms[i] === a.arm).length;
        assert.equal(a.exposures, mine.length);
        assert.deepEqual(a.metrics.revenue, {
          metric: "revenue",
          converted: payers,
          sum: BigInt(payers * 1999),
          sumSquares: BigInt(payers * 1999 * 1999),
        });
        assert.deepEqual(Object.keys(a.metrics), ["bought", "revenue"]);
      }
      const page = await flags.experimentExposures("checkout", { count: 7 });
      assert.equal(page.exposures.length, 7);
      assert.notEqual(page.cursor, "0");
      const walked = [];
      for await (const e of flags.iterExposures("checkout", { count: 7 })) walked.push(e);
      assert.deepEqual(
        walked.map((e) => [e.id, e.arm]),
        IDS.map((i) => [i, arms[i]]),
      );
      assert.ok(walked.every((e) => e.time > 1_600_000_000_000));

      const state = (await flags.describe("checkout"))!.experiment!;
      assert.equal(state.state, "running");
      assert.deepEqual([state.control, state.arms, state.metrics, state.exposures, state.stopped], [
        "one_page",
        ["one_page", "two_pages"],
        ["bought", "revenue"],
        IDS.length,
        null,
      ]);
      await flags.stopExperiment("checkout");
      assert.equal(await flags.track("checkout", IDS[0]!, "bought"), false);
      assert.equal((await flags.describe("checkout"))!.experiment!.state, "stopped");
      await assert.rejects(flags.startExperiment("checkout", { metrics: "bought" }), HanoiError);
      await flags.startExperiment("checkout", { metrics: "bought", reset: true });
      assert.deepEqual(
        (await flags.experimentResults("checkout"))!.map((a) => a.exposures),
        [0, 0],
      );
    });

    test("sticky arms, and a flag without an experiment", async () => {
      await flags.define("search", { percentage: 50 });
      assert.equal(await flags.experimentResults("search"), null);
      assert.equal((await flags.describe("search"))!.experiment, null);
      await flags.startExperiment("search", { metrics: ["searched"] });
      const off: string[] = [];
      for (const id of IDS) if (!(await flags.assign("search", id)).enabled) off.push(id);
      assert.ok(off.length > 0);
      await flags.setPercentage("search", 100);
      for (const id of off) assert.equal(await flags.isEnabled("search", id), false);
      assert.equal(await flags.isEnabled("search", "newcomer"), true);
      assert.deepEqual(await flags.exposures("missing"), { cursor: "0", exposures: [] });
      assert.equal((await flags.assign("missing", "u1")).reason, "undefined");
    });
  });
}

test("RESULTS decode from RESP2 flat arrays, sums as bigints", () => {
  const reply = [["arm", Buffer.from("off"), "control", 1, "exposures", 3, "metrics", [[Buffer.from("m"), 2, Buffer.from("18446744073709551621"), Buffer.from("13")]]]];
  assert.deepEqual(experimentResults(reply), [
    { arm: "off", control: true, exposures: 3, metrics: { m: { metric: "m", converted: 2, sum: 18446744073709551621n, sumSquares: 13n } } },
  ]);
});

describe("the provider's experiments", () => {
  let c: Client;
  let flags: Hanoi;
  before(async () => {
    c = await client("ioredis", server.port);
    flags = new Hanoi(c.redis, { prefix: "of-x:" });
  });
  after(async () => {
    await OpenFeature.clearProviders();
    await c.close();
  });

  test("named flags: ASSIGN instead of RESOLVE, track to HANOI.TRACK", async () => {
    await flags.define("checkout", { percentage: 100, variants: ["one_page", "two_pages"] });
    await flags.define("quiet", { percentage: 100, variants: ["a", "b"] });
    await flags.startExperiment("checkout", { metrics: ["bought", "revenue"] });
    await flags.startExperiment("quiet", { metrics: ["bought"] });
    const warned: string[] = [];
    const provider = new HanoiProvider(c.redis, {
      prefix: "of-x:",
      events: false,
      experiments: ["checkout"],
      logger: { warn: (m: string) => warned.push(m) },
    });
    await OpenFeature.setProviderAndWait("x", provider);
    const of = OpenFeature.getClient("x");
    const served: Record<string, string> = {};
    for (const id of IDS.slice(0, 10)) {
      const d = await of.getStringDetails("checkout", "x", { targetingKey: id });
      assert.equal(d.errorCode, undefined);
      assert.equal(d.reason, "SPLIT"); // sticky: the split's reason
      served[id] = d.value;
      await of.getStringValue("quiet", "x", { targetingKey: id }); // not named: RESOLVE
    }
    const exposures = async (f: string) => ((await flags.experimentResults(f)) ?? []).reduce((n, a) => n + a.exposures, 0);
    assert.equal(await exposures("checkout"), 10);
    assert.equal(await exposures("quiet"), 0);
    of.track("bought", { targetingKey: IDS[0]! });
    of.track("revenue", { targetingKey: IDS[0]! }, { value: 1999 });
    of.track("revenue", { targetingKey: IDS[1]! }, { value: 1000 });
    of.track("bought", { targetingKey: IDS[2]! }, { flag: "quiet" }); // not exposed there
    of.track("bought", {}); // no targetingKey: warned
    of.track("revenue", { targetingKey: IDS[0]! }, { value: 1.5 }); // warned
    await provider.flush();
    const results = (await flags.experimentResults("checkout"))!;
    const arm0 = results.find((a) => a.arm === served[IDS[0]!])!;
    assert.equal(arm0.metrics.bought!.converted, 1);
    assert.equal(
      results.reduce((n, a) => n + a.metrics.revenue!.sum, 0n),
      2999n,
    );
    assert.equal((await flags.experimentResults("quiet"))!.reduce((n, a) => n + a.metrics.bought!.converted, 0), 0);
    assert.ok(warned.some((w) => w.includes("no targetingKey")));
    assert.ok(warned.some((w) => w.includes("2^53")));
  });

  test("experiments: true follows every running experiment", async () => {
    await flags.define("search", { percentage: 50 });
    await flags.startExperiment("search", { metrics: ["searched"] });
    const provider = new HanoiProvider(c.redis, { prefix: "of-x:", events: false, experiments: true });
    await OpenFeature.setProviderAndWait("x2", provider);
    const of = OpenFeature.getClient("x2");
    const on: string[] = [];
    for (const id of IDS) if (await of.getBooleanValue("search", false, { targetingKey: id })) on.push(id);
    assert.equal(((await flags.experimentResults("search")) ?? []).reduce((n, a) => n + a.exposures, 0), IDS.length);
    of.track("searched", { targetingKey: on[0]! }, { value: 2 });
    await provider.flush();
    const onArm = (await flags.experimentResults("search"))!.find((a) => a.arm === "on")!;
    assert.equal(onArm.metrics.searched!.sum, 2n);
  });
});
