/** The replies' fields as hanoi-core lays them out (tests/vectors/replies.json,
 * generated from hanoi_core::reply): the decoders read the same fields in the
 * same order, and take a reply with a field appended by a newer module. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

import { HanoiError } from "../src/errors.js";
import {
  FIELDS,
  TYPES,
  description,
  explanation,
  history,
  idsPage,
  resolution,
  ruleWords,
  series,
  stats,
  type NamedRule,
} from "../src/replies.js";

const ROOT = path.resolve(__dirname, "../../../..");
interface Layout {
  shape: string;
  fields: { name: string; type: string }[];
}
const SPEC: { commands: Record<string, Layout>; types: Record<string, Layout> } = JSON.parse(
  readFileSync(path.join(ROOT, "tests/vectors/replies.json"), "utf8"),
);
const names = (l: Layout | undefined) => (l ? l.fields.map((f) => f.name) : undefined);

test("every command's fields are the core's, in order", () => {
  assert.deepEqual(Object.keys(FIELDS).sort(), Object.keys(SPEC.commands).sort());
  for (const [command, fields] of Object.entries(FIELDS)) {
    assert.deepEqual([...fields], names(SPEC.commands[command]), command);
  }
  assert.deepEqual(Object.keys(TYPES).sort(), Object.keys(SPEC.types).sort());
  for (const [name, fields] of Object.entries(TYPES)) {
    assert.deepEqual([...fields], names(SPEC.types[name]), name);
  }
  const rules = SPEC.commands["HANOI.GET"]?.fields.find((f) => f.name === "rules");
  assert.equal(rules?.type, "list<rule>");
});

test("GET's rules are read as structure, and take appended fields", () => {
  const b = (s: string) => Buffer.from(s);
  const rule = [b("pros"), 50, b("b"), [[b("plan"), "IN", [b("pro"), b("team")]], [b("email"), "EXISTS", []], [b("v"), "SEMVER_GE", [b("2.1.0")]]]];
  const want: NamedRule = {
    name: "pros",
    rollout: 50,
    variant: "b",
    when: [["plan", "IN", ["pro", "team"]], ["email", "EXISTS"], ["v", "SEMVER_GE", "2.1.0"]],
  };
  assert.deepEqual(description(new Map([["rules", [rule]]]))?.rules, [want]);
  // a newer module's fields, appended to the rule and to its conditions: left out
  const newer = [...rule.slice(0, 3), (rule[3] as unknown[][]).map((c) => [...c, b("new")]), 7];
  assert.deepEqual(description(new Map([["rules", [newer]]]))?.rules, [want]);
  // no rollout, no variant; IN of one value is still a list
  const plain = [b("r"), null, null, [[b("segment"), "IN", [b("beta")]]]];
  assert.deepEqual(description(new Map([["rules", [plain]]]))?.rules, [{ name: "r", when: [["segment", "IN", ["beta"]]] }]);
  assert.throws(() => description(new Map([["rules", [[b("r"), null, null]]]])), HanoiError);
  assert.throws(() => description(new Map([["rules", [[b("r"), null, null, [[b("a"), "EQ"]]]]]])), HanoiError);
  // written back: the module's words, IN's count put back
  assert.deepEqual(ruleWords(want), ["ROLLOUT", "50", "VARIANT", "b", "IF", "plan", "IN", "2", "pro", "team", "AND", "email", "EXISTS", "AND", "v", "SEMVER_GE", "2.1.0"]);
  // One value where IN takes a list: a count of 1.
  assert.deepEqual(ruleWords({ when: [["plan", "IN", "pro"]] }), ["IF", "plan", "IN", "1", "pro"]);
});

const EXPLAIN = [1, Buffer.from("blue"), "rule", Buffer.from("beta"), 40, null];
const RESOLVE = [1, Buffer.from("blue"), Buffer.from('"#00f"'), "rule", Buffer.from("beta"), 40, "string", null];
const WANT = { enabled: true, variant: "blue", reason: "rule", detail: "beta", percentage: 40, missing: null };

test("EXPLAIN and RESOLVE take an appended field, and refuse a short reply", () => {
  assert.deepEqual(explanation(EXPLAIN), WANT);
  assert.deepEqual(explanation([...EXPLAIN, Buffer.from("from a newer module")]), WANT);
  const resolved = { ...WANT, value: "#00f", type: "string" };
  assert.deepEqual(resolution(RESOLVE), resolved);
  assert.deepEqual(resolution([...RESOLVE, null, 7]), resolved);
  assert.throws(() => explanation(EXPLAIN.slice(0, 5)), HanoiError);
  assert.throws(() => resolution(RESOLVE.slice(0, 7)), HanoiError);
});

test("the reasons of references decode; an unknown reason is refused", () => {
  const failed = explanation([0, null, "prerequisite", Buffer.from("payments"), 100, Buffer.from("beta")]);
  assert.deepEqual(failed, { enabled: false, variant: null, reason: "prerequisite", detail: "payments", percentage: 100, missing: "beta" });
  assert.equal(explanation([0, null, "error", Buffer.from("too deep"), 100, null]).reason, "error");
  assert.throws(() => explanation([0, null, "novel", null, 0, null]), /unknown reason 'novel'/);
});

test("GET's kind and prerequisites", () => {
  const d = description(
    new Map<string, unknown>([
      ["kind", "segment"],
      ["prerequisites", [[Buffer.from("payments")], [Buffer.from("theme"), Buffer.from("dark")]]],
    ]),
  );
  assert.equal(d?.kind, "segment");
  assert.deepEqual(d?.prerequisites, [
    { flag: "payments", variant: null },
    { flag: "theme", variant: "dark" },
  ]);
  assert.equal(description(new Map([["enabled", 1]]))?.kind, "flag");
});

test("IDS, SERIES, STATS, HISTORY and GET take appended fields", () => {
  assert.deepEqual(idsPage(["5", ["a"], "new"]), { cursor: "5", ids: ["a"] });
  assert.deepEqual(series({ minutes: [[60000, 2, 1, 9]], hours: [], new: 1 }), {
    minutes: [{ start: 60000, evaluations: 2, enabled: 1 }],
    hours: [],
  });
  const s = stats(["evaluations", 3, "enabled", 1, "variants", [], "last_evaluated", null, "since", 9, "new", 1]);
  assert.deepEqual(s, { evaluations: 3, enabled: 1, variants: {}, lastEvaluated: null, since: 9 });
  const h = history([{ time: 1, user: "u", client: null, command: ["HANOI.ENABLE"], arguments: 0, new: 2 }]);
  assert.deepEqual(h, [{ time: 1, user: "u", client: null, command: ["HANOI.ENABLE"], arguments: 0 }]);
  const d = description(new Map<string, unknown>([["enabled", 1], ["percentage", 5], ["new", "x"]]));
  assert.equal(d?.enabled, true);
  assert.equal(d?.percentage, 5);
});
