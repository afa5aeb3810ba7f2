/** The shared evaluation cases (tests/vectors/evaluation.json): the same
 * answers from Hanoi's reads (ioredis and node-redis) and from the
 * OpenFeature provider through the SDK (keyless without an id). */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import { OpenFeature } from "@openfeature/server-sdk";

import { Hanoi, OPENFEATURE_REASONS, type Reason } from "../src/index.js";
import { HanoiProvider } from "../src/openfeature.js";
import { type Client, ROOT, Server, client } from "./server.js";

interface Query {
  id: string | null;
  attrs?: Record<string, string>;
  enabled: boolean;
  variant: string | null;
  reason: Reason;
  detail: string | number | null;
  openfeature: string;
  value: unknown;
}
interface Case {
  name: string;
  /** Keys the case references, written first, in order (their names as they are: no prefix). */
  keys?: { key: string; commands: string[][] }[];
  commands: string[][];
  /** Keys deleted after the case's commands, before the queries. */
  delete?: string[];
  queries: Query[];
}
const CASES: Case[] = JSON.parse(readFileSync(path.join(ROOT, "tests/vectors/evaluation.json"), "utf8")).cases;

let server: Server;
before(async () => {
  server = await Server.start();
});
after(async () => {
  await server?.stop();
});

for (const kind of ["ioredis", "node-redis"] as const) {
  describe(`the shared vectors over ${kind}`, () => {
    let c: Client;
    let flags: Hanoi;
    before(async () => {
      c = await client(kind, server.port);
      flags = new Hanoi(c.redis, { prefix: `vectors-${kind}:` });
      for (const k of CASES) {
        // The keys it references (as the case names them), then the flag
        // (under the prefix), then the deletions.
        const writes = [...(k.keys ?? []).map((r) => [r.key, r.commands] as const), [flags.key(k.name), k.commands] as const];
        for (const [key, commands] of writes) {
          for (const [cmd, ...args] of commands) {
            await flags.connection.send(key, false, [`HANOI.${cmd}`, key, ...args]);
          }
        }
        for (const gone of k.delete ?? []) await flags.connection.send(gone, false, ["DEL", gone]);
      }
    });
    after(async () => {
      await c.close();
    });

    for (const k of CASES) {
      test(k.name, async () => {
        for (const q of k.queries) {
          const r = await flags.resolve(k.name, q.id ?? undefined, q.attrs);
          const got = {
            value: r.value,
            enabled: r.enabled,
            variant: r.variant,
            reason: r.reason,
            detail: r.detail,
            openfeature: OPENFEATURE_REASONS[r.reason],
          };
          const want = { value: q.value, enabled: q.enabled, variant: q.variant, reason: q.reason, detail: q.detail, openfeature: q.openfeature };
          assert.deepEqual(got, want, JSON.stringify(q));
          if (q.id) {
            const e = await flags.explain(k.name, q.id, q.attrs);
            const want = { enabled: r.enabled, variant: r.variant, reason: r.reason, detail: r.detail, percentage: r.percentage, missing: r.missing };
            assert.deepEqual(e, want, JSON.stringify(q));
            assert.deepEqual(await flags.value(k.name, q.id, q.attrs), r.value, JSON.stringify(q));
          }
        }
      });
    }

    test("through the OpenFeature provider", async () => {
      const provider = new HanoiProvider(flags, { events: false });
      await OpenFeature.setProviderAndWait(`vectors-${kind}`, provider);
      const of = OpenFeature.getClient(`vectors-${kind}`);
      try {
        for (const k of CASES) {
          const type = (await flags.describe(k.name))?.type;
          for (const q of k.queries) {
            const ctx = { ...(q.attrs ?? {}), ...(q.id === null ? {} : { targetingKey: q.id }) };
            const where = `${k.name} ${JSON.stringify(q)}`;
            const details =
              type === "boolean"
                ? await of.getBooleanDetails(k.name, false, ctx)
                : type === "string"
                  ? await of.getStringDetails(k.name, "fallback", ctx)
                  : type === "number"
                    ? await of.getNumberDetails(k.name, -1, ctx)
                    : await of.getObjectDetails(k.name, { fallback: true }, ctx);
            if (q.reason === "undefined") {
              assert.equal(details.errorCode, "FLAG_NOT_FOUND", where);
              continue;
            }
            if (q.reason === "needs_id") {
              assert.equal(details.errorCode, "TARGETING_KEY_MISSING", where);
              continue;
            }
            const fallback = type === "boolean" ? false : type === "string" ? "fallback" : type === "number" ? -1 : { fallback: true };
            if (q.reason === "error") {
              // references past their bounds: off, GENERAL, the detail as the message
              assert.deepEqual(
                [details.errorCode, details.reason, details.errorMessage, details.value],
                ["GENERAL", "ERROR", q.detail, fallback],
                where,
              );
              continue;
            }
            assert.equal(details.errorCode, undefined, where);
            assert.equal(details.reason, q.openfeature, where);
            assert.equal(details.flagMetadata.prerequisite, q.reason === "prerequisite" ? q.detail : undefined, where);
            const want = type === "boolean" && q.variant === null ? q.enabled : q.variant === null || q.value === null ? fallback : q.value;
            assert.deepEqual(details.value, want, where);
          }
        }
      } finally {
        await OpenFeature.clearProviders();
      }
    });
  });
}
