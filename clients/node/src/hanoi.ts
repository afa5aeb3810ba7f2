import { type Arg, type Connection, connect } from "./client.js";
import {
  type Built,
  type Definition,
  type ExperimentOptions,
  type IdList,
  type IdsOptions,
  type Time,
  commands,
} from "./commands.js";
import { refusal } from "./errors.js";
import {
  type ArmResult,
  type Attributes,
  type Description,
  type Exposure,
  type ExposuresPage,
  type Explanation,
  type HistoryEntry,
  type Id,
  type IdsPage,
  type Resolution,
  type Rule,
  type Series,
  type Stats,
  attributePairs,
  globEscape,
  idArg,
  named,
  namedDescription,
  segmentKeys,
  trackValue,
} from "./replies.js";

export interface HanoiOptions {
  /** Put before every flag's name to make its key (`"flags:"`). */
  prefix?: string;
}

/** An id to register, or a regex (its source is sent: Rust `regex` syntax). */
export type Registration = Id | RegExp;

/**
 * Feature flags kept and evaluated in Redis by the hanoi module.
 *
 * `redis` is an ioredis client (`Redis` or `Cluster`) or a node-redis one
 * (`createClient` or `createCluster`, connected). Every read is one round
 * trip. Writes to a missing flag throw `FlagNotFound`; the module's other
 * refusals throw `HanoiError`; connection errors pass through unchanged.
 */
export class Hanoi {
  readonly prefix: string;
  /** The connection: the client passed in, and how it is spoken to. */
  readonly connection: Connection;

  constructor(redis: unknown, options: HanoiOptions = {}) {
    this.connection = connect(redis);
    this.prefix = options.prefix ?? "";
  }

  /** The Redis client passed in. */
  get redis(): any {
    return this.connection.client;
  }

  /** The key of a flag. */
  key(flag: string): string {
    return this.prefix + flag;
  }

  /** Sends one built command for `flag` and reads its reply. */
  run<T>(flag: string, built: Built<T>, key: Arg = this.key(flag)): Promise<T> {
    return this.connection.send(key, built.readonly, built.args).then(built.parse, (e: unknown) => {
      throw refusal(e, flag);
    });
  }

  // ----- reads -----

  /** Is the flag on for the id (and its attributes)? Without an id, the
   * switch alone (within the window); a missing flag is off. */
  async isEnabled(flag: string, id?: Id, attributes?: Attributes): Promise<boolean> {
    if (id === undefined && attributes && Object.keys(attributes).length) {
      throw new TypeError("attributes need an id (resolve(flag, undefined, attributes) evaluates without one)");
    }
    return this.run(flag, commands.enabled(this.key(flag), id === undefined ? undefined : idArg(id), attributePairs(attributes)));
  }

  /** The variant served to the id: the decided one when on, the DEFAULT one
   * when off, or null. */
  async variant(flag: string, id: Id, attributes?: Attributes): Promise<string | null> {
    return this.run(flag, commands.variant(this.key(flag), idArg(id), attributePairs(attributes)));
  }

  /** The value the flag serves the id (decoded JSON), or null. Without an
   * id (or with an empty one), what does not depend on the id. */
  async value<T = unknown>(flag: string, id?: Id, attributes?: Attributes): Promise<T | null> {
    const built = commands.value(this.key(flag), id === undefined ? undefined : idArg(id), attributePairs(attributes));
    return this.run(flag, built) as Promise<T | null>;
  }

  /** Whether the flag is on for the id, its variant, why and the effective percentage. */
  async explain(flag: string, id: Id, attributes?: Attributes): Promise<Explanation> {
    const e = await this.run(flag, commands.explain(this.key(flag), idArg(id), attributePairs(attributes)));
    return named(e, this.prefix);
  }

  /** HANOI.RESOLVE: the explanation, the value served and the flag's type.
   * Without an id (or with an empty one) the keyless evaluation: reason
   * `needs_id` when the answer depends on the id. */
  async resolve(flag: string, id?: Id, attributes?: Attributes): Promise<Resolution> {
    const r = await this.run(flag, commands.resolve(this.key(flag), id === undefined ? "" : idArg(id), attributePairs(attributes)));
    return named(r, this.prefix);
  }

  /** Is each flag on for the id? One round trip (HANOI.MENABLED); in a
   * cluster the flags' keys must share a slot (a hash tag: `{page}a`). The
   * flags come first, as the flag does in `isEnabled(flag, id)` (and in
   * Python's `enabled_many(names, item)`). */
  async enabledMany(flags: readonly string[], id: Id, attributes?: Attributes): Promise<Record<string, boolean>>;
  /** @deprecated The order of hanoi-redis 0.1.0, `(id, flags, attributes?)`: still
   * taken (an id is never an array); write `enabledMany(flags, id, attributes?)`. */
  async enabledMany(id: Id, flags: readonly string[], attributes?: Attributes): Promise<Record<string, boolean>>;
  async enabledMany(
    first: readonly string[] | Id,
    second: Id | readonly string[],
    attributes?: Attributes,
  ): Promise<Record<string, boolean>> {
    const [flags, id] = Array.isArray(first)
      ? [first as readonly string[], second as Id]
      : [second as readonly string[], first as Id];
    if (!Array.isArray(flags)) throw new TypeError("enabledMany(flags, id, attributes?): flags is an array of names");
    if (flags.length === 0) return {};
    const keys = flags.map((f) => this.key(f));
    const answers = await this.run(flags[0]!, commands.menabled(keys, idArg(id), attributePairs(attributes)), keys[0]);
    return Object.fromEntries(flags.map((f, i) => [f, answers[i] ?? false]));
  }

  /** The flag's whole definition (HANOI.GET), or null when it does not exist. */
  async describe(flag: string): Promise<Description | null> {
    return namedDescription(await this.run(flag, commands.get(this.key(flag))), this.prefix);
  }

  /** The writes that changed the flag, newest first (at most `count`). */
  async history(flag: string, count?: number): Promise<HistoryEntry[]> {
    return this.run(flag, commands.history(this.key(flag), count));
  }

  /** This server's evaluation counts of the flag, or null when it does not exist. */
  async stats(flag: string): Promise<Stats | null> {
    return this.run(flag, commands.stats(this.key(flag)));
  }

  /** This server's evaluation counts of the flag over time (HANOI.STATS
   * SERIES): the last 60 minutes and the last 168 hours, oldest first, each
   * `{ start, evaluations, enabled }` (`start` in Unix ms); null when the flag
   * does not exist. */
  async statsSeries(flag: string): Promise<Series | null> {
    return this.run(flag, commands.statsSeries(this.key(flag)));
  }

  /** Zeroes this server's evaluation counts of the flag (the series too). */
  async resetStats(flag: string): Promise<void> {
    return this.run(flag, commands.resetStats(this.key(flag)));
  }

  /** One page of the flag's registered (`list: "users"`, the default) or
   * blocked (`"blocked"`) ids (HANOI.IDS, with SSCAN's guarantee): start with
   * cursor "0", pass each call the cursor the last one answered, stop when it
   * answers "0". A missing flag answers `{ cursor: "0", ids: [] }`. */
  async ids(flag: string, options: IdsOptions = {}): Promise<IdsPage> {
    return this.run(flag, commands.scanIds(this.key(flag), options));
  }

  /** Every registered (or blocked) id, walking HANOI.IDS from cursor "0" to
   * the end: an id there for the whole walk comes at least once (an id added
   * or removed meanwhile may or may not). */
  async *iterIds(flag: string, options: Omit<IdsOptions, "cursor"> = {}): AsyncIterableIterator<string> {
    let cursor = "0";
    do {
      const page = await this.ids(flag, { ...options, cursor });
      cursor = page.cursor;
      yield* page.ids;
    } while (cursor !== "0");
  }

  /** Every flag under the prefix, sorted (SCAN ... TYPE hanoiflag on every
   * primary, never KEYS). */
  async names(): Promise<string[]> {
    const keys = await this.connection.scan(globEscape(this.prefix) + "*", "hanoiflag");
    return [...new Set(keys.map((k) => k.slice(this.prefix.length)))].sort();
  }

  // ----- writes -----

  /** Creates the flag or replaces its definition (registered and blocked
   * ids, regexes stay). Omitted options take the module's defaults: enabled,
   * 0 %, no variants. */
  async define(flag: string, definition: Definition = {}): Promise<void> {
    return this.run(flag, commands.define(this.key(flag), definition));
  }

  private async lists(flag: string, users: IdList, regexes: IdList, items: Registration | readonly Registration[]): Promise<number> {
    const all = Array.isArray(items) ? (items as readonly Registration[]) : [items as Registration];
    const ids = all.filter((i): i is Id => !(i instanceof RegExp)).map(idArg);
    const patterns = all.filter((i): i is RegExp => i instanceof RegExp).map((p) => p.source);
    let n = 0;
    if (ids.length || !patterns.length) n += await this.run(flag, commands.ids(this.key(flag), users, ids));
    if (patterns.length) n += await this.run(flag, commands.ids(this.key(flag), regexes, patterns));
    return n;
  }

  /** Enables the flag for ids, and for ids a RegExp matches (its source, Rust
   * `regex` syntax); how many were newly added. */
  async register(flag: string, items: Registration | readonly Registration[]): Promise<number> {
    return this.lists(flag, "user", "regex", items);
  }

  /** Removes registered ids and regexes; how many were removed. */
  async unregister(flag: string, items: Registration | readonly Registration[]): Promise<number> {
    return this.lists(flag, "unuser", "unregex", items);
  }

  /** Adds ids to the deny list; how many were newly blocked. */
  async block(flag: string, ids: Id | readonly Id[]): Promise<number> {
    const all = Array.isArray(ids) ? (ids as readonly Id[]) : [ids as Id];
    return this.run(flag, commands.ids(this.key(flag), "block", all.map(idArg)));
  }

  /** Removes ids from the deny list; how many were removed. */
  async unblock(flag: string, ids: Id | readonly Id[]): Promise<number> {
    const all = Array.isArray(ids) ? (ids as readonly Id[]) : [ids as Id];
    return this.run(flag, commands.ids(this.key(flag), "unblock", all.map(idArg)));
  }

  async enable(flag: string): Promise<void> {
    return this.run(flag, commands.enable(this.key(flag)));
  }

  /** Switches the flag off for everyone (the kill switch). */
  async disable(flag: string): Promise<void> {
    return this.run(flag, commands.disable(this.key(flag)));
  }

  /** Flips the switch; the new state. */
  async toggle(flag: string): Promise<boolean> {
    return this.run(flag, commands.toggle(this.key(flag)));
  }

  /** Sets the percentage (0..100); ends a ramp. */
  async setPercentage(flag: string, percentage: number): Promise<void> {
    return this.run(flag, commands.percentage(this.key(flag), percentage));
  }

  /** Sets a targeting rule (replaced in place when the name exists, else appended):
   * `setTargetingRule("f", "de", { rollout: 50, variant: "b", when: [["country", "EQ", "DE"], ["plan", "IN", ["pro", "team"]]] })`.
   * A rule of `describe(flag).rules` is taken as it is (its `name` ignored). */
  async setTargetingRule(flag: string, name: string, rule: Rule): Promise<void> {
    // Segments are keys for the module.
    return this.run(flag, commands.ruleSet(this.key(flag), name, segmentKeys(rule, this.prefix, true)));
  }

  /** Deletes targeting rules; how many were removed. */
  async deleteTargetingRule(flag: string, ...names: string[]): Promise<number> {
    return this.run(flag, commands.ruleDel(this.key(flag), names));
  }

  /** Moves a targeting rule to `index` (0 is tried first). */
  async moveTargetingRule(flag: string, name: string, index: number): Promise<void> {
    return this.run(flag, commands.ruleMove(this.key(flag), name, index));
  }

  /** @deprecated `setTargetingRule` (the name Python shares). */
  async setRule(flag: string, name: string, rule: Rule): Promise<void> {
    return this.setTargetingRule(flag, name, rule);
  }

  /** @deprecated `deleteTargetingRule` (the name Python shares). */
  async deleteRule(flag: string, ...names: string[]): Promise<number> {
    return this.deleteTargetingRule(flag, ...names);
  }

  /** @deprecated `moveTargetingRule` (the name Python shares). */
  async moveRule(flag: string, name: string, index: number): Promise<void> {
    return this.moveTargetingRule(flag, name, index);
  }

  /** Creates (or redefines) a segment: a key whose answer is membership.
   * Who is in it: `register`, `block`, `setTargetingRule` (without a
   * variant); flags use it in rules: `setTargetingRule(flag, "betas", { when: [["segment", "IN", ["beta"]]] })`. */
  async defineSegment(segment: string, options: { salt?: string } = {}): Promise<void> {
    return this.run(segment, commands.defineSegment(this.key(segment), options.salt));
  }

  /** The flag answers off (reason `prerequisite`) unless flag `prerequisite`
   * is on for the same id and attributes (serving `variant`, if given):
   * appended, or kept in place when already there. */
  async setPrereq(flag: string, prerequisite: string, variant?: string): Promise<void> {
    return this.run(flag, commands.prereqSet(this.key(flag), this.key(prerequisite), variant));
  }

  /** Removes prerequisites; how many were removed. */
  async deletePrereq(flag: string, ...prerequisites: string[]): Promise<number> {
    return this.run(flag, commands.prereqDel(this.key(flag), prerequisites.map((p) => this.key(p))));
  }

  /** Moves a prerequisite to `index` (0 is checked first). */
  async movePrereq(flag: string, prerequisite: string, index: number): Promise<void> {
    return this.run(flag, commands.prereqMove(this.key(flag), this.key(prerequisite), index));
  }

  /** The flag is off outside [from, until) (Dates or Unix ms; null leaves a side open). */
  async setWindow(flag: string, from: Time, until: Time): Promise<void> {
    return this.run(flag, commands.window(this.key(flag), from, until));
  }

  /** The effective percentage moves linearly from `from` at `start` to `to` at `end`. */
  async setRamp(flag: string, ramp: { from: number; to: number; start: Time; end: Time }): Promise<void> {
    return this.run(flag, commands.ramp(this.key(flag), ramp.from, ramp.to, ramp.start, ramp.end));
  }

  /** Clears the window, the ramp, or both (no argument). */
  async clearSchedule(flag: string, which?: "window" | "ramp"): Promise<void> {
    return this.run(flag, commands.scheduleClear(this.key(flag), which));
  }

  /** Sets metadata fields (`description`, `owner`, `tags`, ...); how many were added or changed. */
  async setMeta(flag: string, fields: Readonly<Record<string, string>>): Promise<number> {
    return this.run(flag, commands.metaSet(this.key(flag), fields));
  }

  /** Deletes metadata fields; how many were removed. */
  async deleteMeta(flag: string, ...fields: string[]): Promise<number> {
    return this.run(flag, commands.metaDel(this.key(flag), fields));
  }

  // ----- experiments (HANOI.EXPERIMENT, ASSIGN, TRACK) -----

  /** HANOI.EXPERIMENT START: the flag's random split becomes an A/B test
   * with these metrics; arms `off`/`on` or the variants. */
  async startExperiment(flag: string, options: ExperimentOptions): Promise<void> {
    return this.run(flag, commands.experimentStart(this.key(flag), options));
  }

  /** HANOI.EXPERIMENT STOP: stops recording (and sticky arms); the data stays. */
  async stopExperiment(flag: string): Promise<void> {
    return this.run(flag, commands.experimentStop(this.key(flag)));
  }

  /** HANOI.ASSIGN: `resolve`'s answer and, while the flag's experiment runs,
   * the id's first exposure recorded when the random split decided it. A write. */
  async assign(flag: string, id: Id, attributes?: Attributes): Promise<Resolution> {
    const r = await this.run(flag, commands.assign(this.key(flag), idArg(id), attributePairs(attributes)));
    return named(r, this.prefix);
  }

  /** HANOI.TRACK: adds `value` (an integer from 0 to 2^53) to the exposed
   * id's total for `metric`; whether it was recorded. */
  async track(flag: string, id: Id, metric: string, value: number | bigint = 1): Promise<boolean> {
    return this.run(flag, commands.track(this.key(flag), idArg(id), metric, trackValue(value)));
  }

  /** HANOI.EXPERIMENT RESULTS: per arm (exposures; per metric converted, sum,
   * sum of squares), or null without an experiment. */
  async experimentResults(flag: string): Promise<ArmResult[] | null> {
    return this.run(flag, commands.experimentResults(this.key(flag)));
  }

  /** One page of HANOI.EXPERIMENT EXPOSURES (start at cursor "0", stop when "0" comes back). */
  async experimentExposures(flag: string, options: { cursor?: string; count?: number } = {}): Promise<ExposuresPage> {
    return this.run(flag, commands.experimentExposures(this.key(flag), options.cursor ?? "0", options.count));
  }

  /** @deprecated `experimentExposures` (the name Python shares: `experiment_exposures`). */
  async exposures(flag: string, options: { cursor?: string; count?: number } = {}): Promise<ExposuresPage> {
    return this.experimentExposures(flag, options);
  }

  /** Every exposure, in the order made (each once). */
  async *iterExposures(flag: string, options: { count?: number } = {}): AsyncIterableIterator<Exposure> {
    let cursor = "0";
    do {
      const page = await this.experimentExposures(flag, { ...options, cursor });
      cursor = page.cursor;
      yield* page.exposures;
    } while (cursor !== "0");
  }

  /** Deletes the flag (UNLINK); whether it existed. */
  async delete(flag: string): Promise<boolean> {
    return this.run(flag, commands.unlink(this.key(flag)));
  }
}
