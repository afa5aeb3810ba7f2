/** Replies turned into JavaScript values, whichever client and protocol
 * (RESP2 flat arrays, RESP3 maps as `Map` or plain objects) gave them. */

import type { Arg } from "./client.js";
import { HanoiError } from "./errors.js";

/** An id: a string or a number (sent as its decimal text). */
export type Id = string | number;
/** An attribute's value for the rules: strings as they are, numbers and
 * booleans as their JSON text (as OFREP sends them); null or undefined
 * leaves the attribute out. */
export type AttributeValue = string | number | boolean | Buffer | null | undefined;
/** A call's attributes (`{ country: "DE", plan: "pro", age: 42 }`). */
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** HANOI.EXPLAIN's reasons (and HANOI.RESOLVE's `needs_id`): `prerequisite`
 * (a prerequisite failed: the detail names it), `error` (references past
 * their bounds: the detail says so). */
export type Reason =
  | "undefined"
  | "disabled"
  | "inactive"
  | "blocked"
  | "all"
  | "user"
  | "regex"
  | "rule"
  | "percentage"
  | "outside"
  | "needs_id"
  | "prerequisite"
  | "error";

/** Every reason, as hanoi-core's `Reason::ALL`: a reply naming another one
 * is refused (`HanoiError`). */
export const REASONS: readonly Reason[] = [
  "undefined",
  "disabled",
  "inactive",
  "blocked",
  "all",
  "user",
  "regex",
  "rule",
  "percentage",
  "outside",
  "needs_id",
  "prerequisite",
  "error",
];
const REASON_SET: ReadonlySet<string> = new Set(REASONS);

/** A flag's type (HANOI.GET's `type`). */
export type FlagType = "boolean" | "string" | "number" | "object";

/** HANOI.EXPLAIN's answer. */
export interface Explanation {
  enabled: boolean;
  /** The variant served (the DEFAULT one when off), or null. */
  variant: string | null;
  reason: Reason;
  /** The regex or the rule's name that matched, the id's bucket, the
   * prerequisite that failed (`prerequisite`), what went wrong (`error`), or null. */
  detail: string | number | null;
  /** The effective percentage at that moment (a ramp moves it). */
  percentage: number;
  /** A segment the flag's rules name that does not exist, or null. */
  missing: string | null;
}

/** HANOI.RESOLVE's answer: the explanation, the value served and the flag's type. */
export interface Resolution extends Explanation {
  /** The value served (decoded JSON), or null when none. */
  value: unknown;
  /** The flag's type; null for a missing flag (reason `undefined`). */
  type: FlagType | null;
}

/** A rule's condition: `[attribute, operator, argument?]`; IN and NOTIN take
 * a list, EXISTS and MISSING nothing, the others one value. */
export type Condition = readonly [string, string] | readonly [string, string, string | number | readonly (string | number)[]];

/** A targeting rule (`setTargetingRule`, and `describe().rules`). */
export interface Rule {
  /** A percentage of the ids the rule matches (0..100). */
  rollout?: number;
  /** The variant served when the rule decides. */
  variant?: string;
  /** The conditions, all of which must hold. */
  when: readonly Condition[];
}

export interface NamedRule extends Rule {
  name: string;
}

/** A prerequisite (HANOI.PREREQ): a flag that must be on for the same id
 * first, serving `variant` when it is not null. */
export interface Prerequisite {
  flag: string;
  variant: string | null;
}

/** HANOI.GET's answer. */
export interface Description {
  /** `flag`, or `segment` (a key whose answer is membership). */
  kind: "flag" | "segment";
  /** Checked in order, after the switch and the window. */
  prerequisites: Prerequisite[];
  enabled: boolean;
  percentage: number;
  effectivePercentage: number;
  variants: string[];
  weights: number[];
  /** One decoded JSON value per variant, or empty. */
  values: unknown[];
  default: string | null;
  salt: string | null;
  type: FlagType;
  /** How many ids are registered. */
  users: number;
  /** How many ids are blocked. */
  blocked: number;
  regexes: string[];
  rules: NamedRule[];
  metadata: Record<string, string>;
  /** Unix ms. */
  created: number;
  revision: number;
  window: { from: number; until: number } | null;
  ramp: { from: number; to: number; start: number; end: number } | null;
  /** The flag's experiment (HANOI.EXPERIMENT), or null. */
  experiment: ExperimentState | null;
}

/** A flag's experiment as HANOI.GET shows it. */
export interface ExperimentState {
  state: "running" | "stopped";
  /** Unix ms. */
  started: number;
  /** Unix ms; null while it runs. */
  stopped: number | null;
  control: string;
  /** `off` and `on`, or the flag's variants. */
  arms: string[];
  metrics: string[];
  /** How many ids were exposed. */
  exposures: number;
}

/** One metric on one arm: the exposed units that converted, the sum of
 * their per-unit totals and of the squares of those totals (exact: bigints). */
export interface MetricResult {
  metric: string;
  converted: number;
  sum: bigint;
  sumSquares: bigint;
}

/** One arm of HANOI.EXPERIMENT RESULTS. */
export interface ArmResult {
  arm: string;
  control: boolean;
  exposures: number;
  /** Per metric, by name, in the experiment's order. */
  metrics: Record<string, MetricResult>;
}

/** An exposure: the id, its arm, when (Unix ms, the server's clock). */
export interface Exposure {
  id: string;
  arm: string;
  time: number;
}

/** A page of HANOI.EXPERIMENT EXPOSURES: the next cursor ("0": done). */
export interface ExposuresPage {
  cursor: string;
  exposures: Exposure[];
}

/** One HANOI.HISTORY entry. */
export interface HistoryEntry {
  /** Unix ms (the primary's clock). */
  time: number;
  /** The ACL user. */
  user: string;
  /** The client's name (CLIENT SETNAME), or null. */
  client: string | null;
  /** The command's name and its first arguments (the key left out). */
  command: string[];
  /** How many arguments the command had in all. */
  arguments: number;
}

/** HANOI.STATS's answer. */
export interface Stats {
  evaluations: number;
  enabled: number;
  variants: Record<string, number>;
  /** Unix ms, or null when never evaluated since counting began. */
  lastEvaluated: number | null;
  /** Unix ms: when counting began. */
  since: number;
}

/** One page of HANOI.IDS: where the walk goes on ("0": it is over) and the ids. */
export interface IdsPage {
  cursor: string;
  ids: string[];
}

/** A period of HANOI.STATS SERIES: a minute or an hour. */
export interface Period {
  /** Unix ms: the period's start, on the minute or the hour. */
  start: number;
  evaluations: number;
  enabled: number;
}

/** HANOI.STATS SERIES's answer: this server's counts over time, oldest first,
 * the current period last. */
export interface Series {
  /** The last 60 minutes. */
  minutes: Period[];
  /** The last 168 hours (7 days). */
  hours: Period[];
}

/** Each reply's fields, in order, as hanoi-core lays them out
 * (`tests/vectors/replies.json`, checked by test/replies.test.ts). An array
 * reply is read by position and may be longer (fields a newer module
 * appended: left out); a map reply is read by name (names not known: left out). */
export const FIELDS = {
  "HANOI.EXPLAIN": ["enabled", "variant", "reason", "detail", "percentage", "missing"],
  "HANOI.RESOLVE": ["enabled", "variant", "value", "reason", "detail", "percentage", "type", "missing"],
  "HANOI.PREVIEW": ["enabled", "variant", "value", "reason", "detail", "percentage", "type", "missing"],
  "HANOI.GET": [
    "blocked",
    "created",
    "default",
    "effective_percentage",
    "enabled",
    "experiment",
    "kind",
    "metadata",
    "percentage",
    "prerequisites",
    "ramp",
    "regexes",
    "revision",
    "rules",
    "salt",
    "type",
    "users",
    "values",
    "variants",
    "weights",
    "window",
  ],
  "HANOI.STATS": ["evaluations", "enabled", "variants", "last_evaluated", "since"],
  "HANOI.STATS SERIES": ["minutes", "hours"],
  "HANOI.HISTORY": ["time", "user", "client", "command", "arguments"],
  "HANOI.IDS": ["cursor", "ids"],
  "HANOI.ASSIGN": ["enabled", "variant", "value", "reason", "detail", "percentage", "type", "missing"],
  "HANOI.EXPERIMENT RESULTS": ["arm", "control", "exposures", "metrics"],
  "HANOI.EXPERIMENT EXPOSURES": ["cursor", "exposures"],
} as const;

/** The named types of the replies' fields (each an array read by position). */
export const TYPES = {
  period: ["start", "evaluations", "enabled"],
  experiment: ["state", "started", "stopped", "control", "arms", "metrics", "exposures"],
  metric: ["metric", "converted", "sum", "sum_squares"],
  exposure: ["id", "arm", "time"],
  rule: ["name", "rollout", "variant", "conditions"],
  condition: ["attribute", "operator", "arguments"],
} as const;

/** An array reply's fields by name: at least `fields`, in order; more (a
 * newer module's) are left out. */
export function byPosition<F extends string>(
  reply: unknown,
  fields: readonly F[],
  what: string,
): Record<F, unknown> {
  const a = list(reply);
  if (a.length < fields.length) {
    throw new HanoiError(`${what}: a reply of ${a.length} fields, expected at least ${fields.length}`);
  }
  const out = {} as Record<F, unknown>;
  fields.forEach((f, i) => {
    out[f] = a[i];
  });
  return out;
}

export function text(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

function textOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : text(v);
}

function num(v: unknown): number {
  return Number(Buffer.isBuffer(v) ? v.toString() : v);
}

/** A map reply (flat array, Map or object) as [key, value] pairs. */
export function entries(reply: unknown): [string, unknown][] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) {
    const out: [string, unknown][] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) out.push([text(reply[i]), reply[i + 1]]);
    return out;
  }
  if (reply instanceof Map) return [...reply.entries()].map(([k, v]) => [text(k), v]);
  return Object.entries(reply as Record<string, unknown>);
}

function record(reply: unknown): Record<string, unknown> {
  return Object.fromEntries(entries(reply));
}

function list(reply: unknown): unknown[] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) return reply;
  if (reply instanceof Set) return [...reply];
  return [];
}

/** The `WITH attr value ...` words for attributes. */
export function attributePairs(attributes: Attributes | undefined): Arg[] {
  const out: Arg[] = [];
  if (attributes === undefined) return out;
  for (const [k, v] of Object.entries(attributes)) {
    if (v === null || v === undefined) continue;
    out.push(k, attributeText(k, v));
  }
  return out;
}

function attributeText(name: string, v: unknown): Arg {
  if (typeof v === "string" || Buffer.isBuffer(v)) return v;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError(`attribute ${name}: ${v} has no JSON text`);
    return JSON.stringify(v);
  }
  if (typeof v === "bigint") return v.toString();
  throw new TypeError(`attribute ${name}: ${Array.isArray(v) ? "a list" : typeof v} cannot be compared by rules`);
}

export function idArg(id: Id | Buffer): Arg {
  if (typeof id === "string" || Buffer.isBuffer(id)) return id;
  if (typeof id === "number" && Number.isFinite(id)) return String(id);
  throw new TypeError(`an id is a string or a number, not ${typeof id}`);
}

export function one(reply: unknown): boolean {
  return num(reply) === 1;
}

export function integer(reply: unknown): number {
  return num(reply);
}

export function none(_reply: unknown): void {}

export function variantOf(reply: unknown): string | null {
  return textOrNull(reply);
}

export function jsonValue(reply: unknown): unknown {
  return reply === null || reply === undefined ? null : JSON.parse(text(reply));
}

function detailOf(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v;
  return text(v);
}

function reasonOf(v: unknown): Reason {
  const r = text(v);
  if (!REASON_SET.has(r)) throw new HanoiError(`unknown reason '${r}' (a newer module?)`);
  return r as Reason;
}

function explanationOf(f: Record<(typeof FIELDS)["HANOI.EXPLAIN"][number], unknown>): Explanation {
  return {
    enabled: one(f.enabled),
    variant: textOrNull(f.variant),
    reason: reasonOf(f.reason),
    detail: detailOf(f.detail),
    percentage: num(f.percentage),
    missing: textOrNull(f.missing),
  };
}

export function explanation(reply: unknown): Explanation {
  return explanationOf(byPosition(reply, FIELDS["HANOI.EXPLAIN"], "HANOI.EXPLAIN"));
}

export function resolution(reply: unknown): Resolution {
  const f = byPosition(reply, FIELDS["HANOI.RESOLVE"], "HANOI.RESOLVE");
  return {
    ...explanationOf(f),
    value: jsonValue(f.value),
    type: textOrNull(f.type) as FlagType | null,
  };
}

/** A rule's words: HANOI.RULE SET's after the name (as the core's `rule_args` writes them). */
export function ruleWords(rule: Rule): Arg[] {
  const out: Arg[] = [];
  if (rule.rollout !== undefined) out.push("ROLLOUT", String(rule.rollout));
  if (rule.variant !== undefined) out.push("VARIANT", rule.variant);
  if (!rule.when || rule.when.length === 0) throw new TypeError("a rule needs at least one condition (when)");
  rule.when.forEach((c, i) => {
    out.push(i === 0 ? "IF" : "AND", c[0], c[1]);
    if (c.length < 3) return;
    // One value or a list; IN and NOTIN count theirs (one value: a count of 1).
    const args = Array.isArray(c[2]) ? c[2] : [c[2]];
    if (LIST_ARG.has(c[1].toUpperCase())) out.push(String(args.length));
    out.push(...args.map(String));
  });
  return out;
}

/** The operators whose argument is a list (`[attr, "IN", values]`; a
 * count before the values on the command line). */
const LIST_ARG = new Set(["IN", "NOTIN"]);

/** A condition of HANOI.GET's `rules` (`[attribute, operator, arguments]`,
 * read by position) in `setTargetingRule`'s shape: `[attr, op]` without
 * arguments, `[attr, op, values]` for IN and NOTIN (or an operator of
 * several), `[attr, op, value]` otherwise. */
function conditionOf(reply: unknown): Condition {
  const f = byPosition(reply, TYPES.condition, "HANOI.GET condition");
  const attr = text(f.attribute);
  const op = text(f.operator);
  const args = list(f.arguments).map(text);
  if (LIST_ARG.has(op.toUpperCase()) || args.length > 1) return [attr, op, args];
  return args.length === 0 ? [attr, op] : [attr, op, args[0]!];
}

/** A rule of HANOI.GET's `rules` (`[name, rollout, variant, conditions]`,
 * read by position: fields a newer module appended are left out). */
export function ruleOf(reply: unknown): NamedRule {
  const f = byPosition(reply, TYPES.rule, "HANOI.GET rule");
  const rule: NamedRule = { name: text(f.name), when: list(f.conditions).map(conditionOf) };
  if (f.rollout !== null && f.rollout !== undefined) rule.rollout = num(f.rollout);
  if (f.variant !== null && f.variant !== undefined) rule.variant = text(f.variant);
  return rule;
}

export function description(reply: unknown): Description | null {
  if (reply === null || reply === undefined) return null;
  const d = record(reply);
  const window = list(d.window).map(num);
  const ramp = list(d.ramp).map(num);
  return {
    kind: textOrNull(d.kind) === "segment" ? "segment" : "flag",
    prerequisites: list(d.prerequisites).map((p) => {
      const [flag, variant] = list(p);
      return { flag: text(flag), variant: textOrNull(variant) };
    }),
    enabled: one(d.enabled),
    percentage: num(d.percentage),
    effectivePercentage: num(d.effective_percentage ?? d.percentage),
    variants: list(d.variants).map(text),
    weights: list(d.weights).map(num),
    values: list(d.values).map(jsonValue),
    default: textOrNull(d.default),
    salt: textOrNull(d.salt),
    type: (textOrNull(d.type) ?? (list(d.variants).length ? "string" : "boolean")) as FlagType,
    users: num(d.users ?? 0),
    blocked: num(d.blocked ?? 0),
    regexes: list(d.regexes).map(text),
    rules: list(d.rules).map(ruleOf),
    metadata: Object.fromEntries(entries(d.metadata).map(([k, v]) => [k, text(v)])),
    created: num(d.created ?? 0),
    revision: num(d.revision ?? 0),
    window: window.length === 2 ? { from: window[0]!, until: window[1]! } : null,
    ramp: ramp.length === 4 ? { from: ramp[0]!, to: ramp[1]!, start: ramp[2]!, end: ramp[3]! } : null,
    experiment: experimentState(d.experiment),
  };
}

export function experimentState(reply: unknown): ExperimentState | null {
  if (reply === null || reply === undefined) return null;
  const f = byPosition(reply, TYPES.experiment, "HANOI.GET experiment");
  return {
    state: text(f.state) === "running" ? "running" : "stopped",
    started: num(f.started),
    stopped: f.stopped === null || f.stopped === undefined ? null : num(f.stopped),
    control: text(f.control),
    arms: list(f.arms).map(text),
    metrics: list(f.metrics).map(text),
    exposures: num(f.exposures),
  };
}

/** HANOI.EXPERIMENT RESULTS's reply: one arm each; null without an experiment. */
export function experimentResults(reply: unknown): ArmResult[] | null {
  if (reply === null || reply === undefined) return null;
  return list(reply).map((a) => {
    const d = record(a);
    for (const f of FIELDS["HANOI.EXPERIMENT RESULTS"]) {
      if (!(f in d)) throw new HanoiError(`HANOI.EXPERIMENT RESULTS: an arm without ${f}`);
    }
    const metrics: Record<string, MetricResult> = {};
    for (const m of list(d.metrics)) {
      const f = byPosition(m, TYPES.metric, "HANOI.EXPERIMENT RESULTS metric");
      const metric = text(f.metric);
      metrics[metric] = { metric, converted: num(f.converted), sum: BigInt(text(f.sum)), sumSquares: BigInt(text(f.sum_squares)) };
    }
    return { arm: text(d.arm), control: one(d.control), exposures: num(d.exposures), metrics };
  });
}

export function exposuresPage(reply: unknown): ExposuresPage {
  const f = byPosition(reply, FIELDS["HANOI.EXPERIMENT EXPOSURES"], "HANOI.EXPERIMENT EXPOSURES");
  return {
    cursor: text(f.cursor),
    exposures: list(f.exposures).map((e) => {
      const x = byPosition(e, TYPES.exposure, "HANOI.EXPERIMENT EXPOSURES exposure");
      return { id: text(x.id), arm: text(x.arm), time: num(x.time) };
    }),
  };
}

/** A conversion's value: an integer from 0 to 2^53 (cents, ms). */
export function trackValue(value: number | bigint): string {
  const v = typeof value === "bigint" ? value : Number.isInteger(value) ? BigInt(value) : null;
  if (v === null || v < 0n || v > 2n ** 53n) {
    throw new RangeError(`a tracked value is an integer from 0 to 2^53 (cents, ms), not ${String(value)}`);
  }
  return v.toString();
}

export function history(reply: unknown): HistoryEntry[] {
  return list(reply).map((e) => {
    const d = record(e);
    return {
      time: num(d.time),
      user: text(d.user),
      client: textOrNull(d.client),
      command: list(d.command).map(text),
      arguments: num(d.arguments),
    };
  });
}

export function stats(reply: unknown): Stats | null {
  if (reply === null || reply === undefined) return null;
  const d = record(reply);
  return {
    evaluations: num(d.evaluations),
    enabled: num(d.enabled),
    variants: Object.fromEntries(entries(d.variants).map(([k, v]) => [k, num(v)])),
    lastEvaluated: d.last_evaluated === null || d.last_evaluated === undefined ? null : num(d.last_evaluated),
    since: num(d.since),
  };
}

export function idsPage(reply: unknown): IdsPage {
  const f = byPosition(reply, FIELDS["HANOI.IDS"], "HANOI.IDS");
  return { cursor: text(f.cursor), ids: list(f.ids).map(text) };
}

function periods(reply: unknown): Period[] {
  return list(reply).map((p) => {
    const f = byPosition(p, TYPES.period, "HANOI.STATS SERIES");
    return { start: num(f.start), evaluations: num(f.evaluations), enabled: num(f.enabled) };
  });
}

export function series(reply: unknown): Series | null {
  if (reply === null || reply === undefined) return null;
  const d = record(reply);
  return { minutes: periods(d.minutes), hours: periods(d.hours) };
}

/** A key as a name: without `prefix` (a key outside it stays whole). */
export function unprefixed(key: string, prefix: string): string {
  return prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
}

/** A rule with `prefix` before (`add`) or taken from each segment name of
 * its conditions on `segment`: the module names keys, a `Hanoi` names. */
export function segmentKeys<R extends Rule>(rule: R, prefix: string, add: boolean): R {
  if (!prefix) return rule;
  const key = (v: string | number) => (add ? prefix + String(v) : unprefixed(String(v), prefix));
  const when = rule.when.map((c): Condition => {
    if (c[0] !== "segment" || c.length < 3) return c;
    const arg = c[2];
    return [c[0], c[1], Array.isArray(arg) ? arg.map(key) : key(arg as string | number)];
  });
  return { ...rule, when };
}

/** The keys an answer names (the prerequisite that failed, a missing
 * segment) as names: without `prefix`. */
export function named<E extends Explanation>(e: E, prefix: string): E {
  if (!prefix) return e;
  const detail = e.reason === "prerequisite" && typeof e.detail === "string" ? unprefixed(e.detail, prefix) : e.detail;
  return { ...e, detail, missing: e.missing === null ? null : unprefixed(e.missing, prefix) };
}

/** A description's keys (prerequisites, segments in rules) as names. */
export function namedDescription(d: Description | null, prefix: string): Description | null {
  if (d === null || !prefix) return d;
  return {
    ...d,
    prerequisites: d.prerequisites.map((p) => ({ ...p, flag: unprefixed(p.flag, prefix) })),
    rules: d.rules.map((r) => segmentKeys(r, prefix, false)),
  };
}

/** `s` matched literally in a Redis glob (SCAN MATCH, PSUBSCRIBE). */
export function globEscape(s: string): string {
  return s.replace(/[\\*?[\]]/g, (c) => "\\" + c);
}
