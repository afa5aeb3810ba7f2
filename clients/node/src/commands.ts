/**
 * Each HANOI.* command once: its arguments and how its reply reads.
 *
 * A builder returns a `Built`: the words to send, whether the command only
 * reads (a cluster client may send it to a replica), and what turns the reply
 * into a JavaScript value. `Hanoi` sends them (`Hanoi.run`).
 */

import type { Arg } from "./client.js";
import * as r from "./replies.js";

export interface Built<T> {
  args: Arg[];
  readonly: boolean;
  parse: (reply: unknown) => T;
}

function read<T>(args: Arg[], parse: (reply: unknown) => T): Built<T> {
  return { args, readonly: true, parse };
}

function write<T>(args: Arg[], parse: (reply: unknown) => T): Built<T> {
  return { args, readonly: false, parse };
}

function withArgs(pairs: Arg[]): Arg[] {
  return pairs.length ? ["WITH", ...pairs] : [];
}

/** Dates and Unix milliseconds as the module's times (null: open, 0). */
export type Time = Date | number | null;
function ms(t: Time): string {
  if (t === null) return "0";
  return String(t instanceof Date ? t.getTime() : Math.trunc(t));
}

/** HANOI.DEFINE's options. */
export interface Definition {
  /** Switched on (default) or off. */
  enabled?: boolean;
  /** 0..100 (the module's default: 0). */
  percentage?: number;
  variants?: readonly string[];
  /** One integer weight > 0 per variant. */
  weights?: readonly number[];
  /** One value per variant (sent as JSON): all of one type. */
  values?: readonly unknown[];
  /** The variant served when the flag is off for a query. */
  default?: string;
  salt?: string;
}

export function defineArgs(d: Definition): Arg[] {
  const out: Arg[] = [];
  if (d.enabled !== undefined) out.push(d.enabled ? "ENABLED" : "DISABLED");
  if (d.percentage !== undefined) out.push("PERCENTAGE", String(d.percentage));
  if (d.variants && d.variants.length) {
    out.push("VARIANTS", String(d.variants.length), ...d.variants);
    if (d.weights && d.weights.length) out.push("WEIGHTS", ...d.weights.map(String));
    if (d.values) {
      out.push(
        "VALUES",
        ...d.values.map((v) => {
          const json = JSON.stringify(v);
          if (json === undefined) throw new TypeError(`${String(v)} has no JSON text`);
          return json;
        }),
      );
    }
  } else if ((d.weights && d.weights.length) || d.values) {
    throw new TypeError("weights and values need variants");
  }
  if (d.default !== undefined) out.push("DEFAULT", d.default);
  if (d.salt !== undefined) out.push("SALT", d.salt);
  return out;
}

/** The id lists of REGISTER/UNREGISTER (USER or REGEX), BLOCK and UNBLOCK. */
export type IdList = "user" | "regex" | "unuser" | "unregex" | "block" | "unblock";
const ID_LISTS: Record<IdList, Arg[]> = {
  user: ["HANOI.REGISTER", "USER"],
  regex: ["HANOI.REGISTER", "REGEX"],
  unuser: ["HANOI.UNREGISTER", "USER"],
  unregex: ["HANOI.UNREGISTER", "REGEX"],
  block: ["HANOI.BLOCK"],
  unblock: ["HANOI.UNBLOCK"],
};

/** HANOI.IDS's options: which list, where the walk is, a glob and about how
 * many ids to examine per call. */
export interface IdsOptions {
  /** The registered ids (default) or the blocked ones. */
  list?: "users" | "blocked";
  /** Where the walk is: "0" (default) starts it. */
  cursor?: string;
  /** Only ids matching this glob (SCAN's: `*`, `?`, `[a-z]`, `\` escapes). */
  match?: string;
  /** About how many ids a call examines (the module's default: 10). */
  count?: number;
}

export function idsArgs(o: IdsOptions): Arg[] {
  const which = o.list ?? "users";
  if (which !== "users" && which !== "blocked") throw new TypeError(`list is "users" or "blocked", not ${String(which)}`);
  const out: Arg[] = [which.toUpperCase(), String(o.cursor ?? "0")];
  if (o.match !== undefined) out.push("MATCH", o.match);
  if (o.count !== undefined) out.push("COUNT", String(o.count));
  return out;
}

/** HANOI.EXPERIMENT START's options. */
export interface ExperimentOptions {
  /** 1 to 32 metric names. */
  metrics: string | readonly string[];
  /** The control arm (default: `off`, or the first variant). */
  control?: string;
  /** Drop a stopped experiment's data. */
  reset?: boolean;
}

export const commands = {
  // ----- reads -----
  enabled: (key: Arg, id: Arg | undefined, pairs: Arg[]) =>
    read(id === undefined ? ["HANOI.ENABLED", key] : ["HANOI.ENABLED", key, id, ...withArgs(pairs)], r.one),
  variant: (key: Arg, id: Arg, pairs: Arg[]) => read(["HANOI.VARIANT", key, id, ...withArgs(pairs)], r.variantOf),
  value: (key: Arg, id: Arg | undefined, pairs: Arg[]) =>
    read(
      id === undefined && !pairs.length ? ["HANOI.VALUE", key] : ["HANOI.VALUE", key, id ?? "", ...withArgs(pairs)],
      r.jsonValue,
    ),
  explain: (key: Arg, id: Arg, pairs: Arg[]) => read(["HANOI.EXPLAIN", key, id, ...withArgs(pairs)], r.explanation),
  resolve: (key: Arg, id: Arg, pairs: Arg[]) => read(["HANOI.RESOLVE", key, id, ...withArgs(pairs)], r.resolution),
  experimentResults: (key: Arg) => read(["HANOI.EXPERIMENT", key, "RESULTS"], r.experimentResults),
  experimentExposures: (key: Arg, cursor: string, count: number | undefined) =>
    read(["HANOI.EXPERIMENT", key, "EXPOSURES", cursor, ...(count === undefined ? [] : ["COUNT", String(count)])], r.exposuresPage),
  menabled: (keys: Arg[], id: Arg, pairs: Arg[]) => {
    const args: Arg[] = ["HANOI.MENABLED", id];
    if (pairs.length || (keys.length && String(keys[0]).toUpperCase() === "WITH")) {
      args.push("WITH", String(pairs.length / 2), ...pairs);
    }
    return read([...args, ...keys], (reply) => (reply as unknown[]).map(r.one));
  },
  get: (key: Arg) => read(["HANOI.GET", key], r.description),
  history: (key: Arg, count: number | undefined) =>
    read(count === undefined ? ["HANOI.HISTORY", key] : ["HANOI.HISTORY", key, "COUNT", String(count)], r.history),
  scanIds: (key: Arg, options: IdsOptions) => read(["HANOI.IDS", key, ...idsArgs(options)], r.idsPage),
  stats: (key: Arg) => read(["HANOI.STATS", key], r.stats),
  statsSeries: (key: Arg) => read(["HANOI.STATS", key, "SERIES"], r.series),
  resetStats: (key: Arg) => write(["HANOI.TALLY", key, "RESET"], r.none),
  // ----- writes -----
  define: (key: Arg, d: Definition) => write(["HANOI.DEFINE", key, ...defineArgs(d)], r.none),
  defineSegment: (key: Arg, salt: string | undefined) =>
    write(["HANOI.DEFINE", key, "SEGMENT", ...(salt === undefined ? [] : ["SALT", salt])], r.none),
  ids: (key: Arg, what: IdList, items: Arg[]) => {
    const [cmd, ...target] = ID_LISTS[what];
    return write([cmd!, key, ...target, ...items], r.integer);
  },
  enable: (key: Arg) => write(["HANOI.ENABLE", key], r.none),
  disable: (key: Arg) => write(["HANOI.DISABLE", key], r.none),
  toggle: (key: Arg) => write(["HANOI.TOGGLE", key], r.one),
  percentage: (key: Arg, pct: number) => write(["HANOI.PERCENTAGE", key, String(pct)], r.none),
  ruleSet: (key: Arg, name: string, rule: r.Rule) => write(["HANOI.RULE", key, "SET", name, ...r.ruleWords(rule)], r.none),
  ruleDel: (key: Arg, names: string[]) => write(["HANOI.RULE", key, "DEL", ...names], r.integer),
  ruleMove: (key: Arg, name: string, index: number) => write(["HANOI.RULE", key, "MOVE", name, String(index)], r.none),
  window: (key: Arg, from: Time, until: Time) => write(["HANOI.SCHEDULE", key, "WINDOW", ms(from), ms(until)], r.none),
  ramp: (key: Arg, from: number, to: number, start: Time, end: Time) =>
    write(["HANOI.SCHEDULE", key, "RAMP", String(from), String(to), ms(start), ms(end)], r.none),
  scheduleClear: (key: Arg, which: "window" | "ramp" | undefined) =>
    write(["HANOI.SCHEDULE", key, "CLEAR", ...(which ? [which.toUpperCase()] : [])], r.none),
  prereqSet: (key: Arg, other: Arg, variant: string | undefined) =>
    write(["HANOI.PREREQ", key, "SET", other, ...(variant === undefined ? [] : ["VARIANT", variant])], r.none),
  prereqDel: (key: Arg, others: Arg[]) => write(["HANOI.PREREQ", key, "DEL", ...others], r.integer),
  prereqMove: (key: Arg, other: Arg, index: number) => write(["HANOI.PREREQ", key, "MOVE", other, String(index)], r.none),
  metaSet: (key: Arg, fields: Readonly<Record<string, string>>) =>
    write(["HANOI.META", key, "SET", ...Object.entries(fields).flat()], r.integer),
  metaDel: (key: Arg, fields: string[]) => write(["HANOI.META", key, "DEL", ...fields], r.integer),
  unlink: (key: Arg) => write(["UNLINK", key], r.one),
  // ----- experiments: ASSIGN and TRACK are writes -----
  assign: (key: Arg, id: Arg, pairs: Arg[]) => write(["HANOI.ASSIGN", key, id, ...withArgs(pairs)], r.resolution),
  track: (key: Arg, id: Arg, metric: string, value: string) =>
    write(["HANOI.TRACK", key, id, metric, ...(value === "1" ? [] : [value])], r.one),
  experimentStart: (key: Arg, o: ExperimentOptions) => {
    const metrics = typeof o.metrics === "string" ? [o.metrics] : [...o.metrics];
    const args: Arg[] = ["HANOI.EXPERIMENT", key, "START"];
    if (o.control !== undefined) args.push("CONTROL", o.control);
    args.push("METRICS", String(metrics.length), ...metrics);
    if (o.reset) args.push("RESET");
    return write(args, r.none);
  },
  experimentStop: (key: Arg) => write(["HANOI.EXPERIMENT", key, "STOP"], r.none),
} as const;
