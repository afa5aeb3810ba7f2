/**
 * An OpenFeature provider (`@openfeature/server-sdk`) for hanoi flags.
 *
 *     import { OpenFeature } from "@openfeature/server-sdk";
 *     import { HanoiProvider } from "hanoi-redis/openfeature";
 *
 *     await OpenFeature.setProviderAndWait(new HanoiProvider(redis));
 *     const client = OpenFeature.getClient();
 *     await client.getBooleanValue("new_checkout", false, { targetingKey: "44488", country: "DE" });
 *
 * The answers are hanoi-web's OFREP's and the Python provider's:
 *
 * - `targetingKey` is the id; the other context attributes go to the rules
 *   (strings as they are, numbers and booleans as their JSON text, dates as
 *   ISO 8601); a list or an object is `INVALID_CONTEXT`. Without a
 *   targetingKey (or with an empty one) the evaluation is keyless
 *   (`HANOI.RESOLVE key ""`): what does not depend on the id is answered, the
 *   rest is `TARGETING_KEY_MISSING`.
 * - A flag's type (`boolean`, `string`, `number` or `object`) is read from
 *   its description (`HANOI.GET`, kept `cacheSeconds`, default 1 s; a change
 *   event drops it at once); asking another type is `TYPE_MISMATCH`.
 * - Reasons: switched off or outside its window → `DISABLED`; a registered
 *   id, a regex, a rule or a blocked id → `TARGETING_MATCH`; the percentage →
 *   `SPLIT`, at 100 % `STATIC`; outside the percentage → `DEFAULT`. A flag
 *   off for the id without a DEFAULT variant answers the caller's default.
 *   A prerequisite that failed → `PREREQUISITE_FAILED`, no error code (the
 *   DEFAULT variant's value, else the caller's default), `flagMetadata`'s
 *   `prerequisite` naming it; references past their bounds (more than 8
 *   levels, a cycle) → reason `ERROR`, `GENERAL`, the detail as the message.
 * - `flagMetadata`: `type`, and every field of the flag's metadata
 *   (`HANOI.META`: `description`, `owner`, `tags`, `created`, any other), as
 *   strings.
 * - A missing flag, or a key that is not a flag → `FLAG_NOT_FOUND`; Redis
 *   unreachable, or no answer within `timeoutMs` (default 1000) → `GENERAL`
 *   (the caller's default).
 * - Experiments (`experiments: true`, or the flags' names): an evaluation of
 *   a flag whose description shows a running experiment is `HANOI.ASSIGN`
 *   instead of `HANOI.RESOLVE` (the same answer; the id's first exposure
 *   recorded: a write). The description is the cached one (`cacheSeconds`).
 * - `track(event, context, details)` (the SDK's `client.track`) is
 *   `HANOI.TRACK flag targetingKey event value`: the event name is the
 *   metric, `details.value` the value (an integer from 0 to 2^53; 1 when
 *   none). OpenFeature's tracking names no flag: it is `details.flag` (a
 *   name or a list), else every flag named in `experiments`, else (with
 *   `experiments: true`) every flag this provider evaluated with a running
 *   experiment declaring that metric. It returns at once (the spec's void
 *   function), never throws: what cannot be recorded is warned through
 *   `logger`; `await provider.flush()` waits for what is being sent (and
 *   closing the provider does).
 * - `initialize` PINGs and reads `HANOI.GET`: a server without the module
 *   is `ProviderFatalError` (status FATAL, `PROVIDER_FATAL`).
 * - Events (`events: true`, the default on a single server; not on a
 *   cluster client), on a connection of its own (the client's `duplicate()`):
 *   a flag's change → `ConfigurationChanged` with its name, from keyspace
 *   notifications. The server needs `notify-keyspace-events` with `K`
 *   (keyspace events) and `d` (module events: every hanoi write), and `g`
 *   and `x` for deletions and expiries: `Kgxd` (or `KA`). The provider does
 *   not change the server's configuration; when it can read it and `K` or `d`
 *   is missing it warns (through `logger`). The connection lost → `Error`
 *   (evaluations answer `GENERAL` meanwhile); back → `Ready`, then
 *   `ConfigurationChanged` without names (any flag may have changed).
 */

import {
  ErrorCode,
  FlagNotFoundError,
  GeneralError,
  InvalidContextError,
  OpenFeatureError,
  OpenFeatureEventEmitter,
  ProviderEvents,
  ProviderFatalError,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  type EvaluationContext,
  type JsonValue,
  type Logger,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
} from "@openfeature/server-sdk";

import { FlagNotFound, HanoiError } from "./errors.js";
import { Hanoi } from "./hanoi.js";
import { OPENFEATURE_REASONS } from "./reasons.js";
import {
  type Attributes,
  type Description,
  type FlagType,
  type Resolution,
  entries,
  globEscape,
  text,
  trackValue,
} from "./replies.js";

type Kind = "boolean" | "string" | "number" | "object";

/** The keyspace events that change a flag (besides the module's `hanoi.*`). */
export const KEY_EVENTS: ReadonlySet<string> = new Set(["del", "expired", "evicted", "rename_to", "restore", "copy_to", "move_to"]);

export interface HanoiProviderOptions {
  /** The prefix of the flags' keys (when a Redis client is passed). */
  prefix?: string;
  /** Watch keyspace events and the connection (default: true on a single
   * server, false on a cluster client). */
  events?: boolean;
  /** How long a flag's description (type, metadata) is kept; default 1. */
  cacheSeconds?: number;
  /** Where the provider warns (default: console). */
  logger?: Pick<Logger, "warn">;
  /** The longest an evaluation waits for Redis, in ms (default 1000): then
   * it answers `GENERAL` and the caller's default. A Redis client queues
   * commands while it reconnects (ioredis's offline queue waited 73 s in
   * one test); this bounds what the application waits. */
  timeoutMs?: number;
  /** Record exposures: evaluations of flags with a running experiment use
   * HANOI.ASSIGN (all of them with `true`, or only the flags named). */
  experiments?: boolean | readonly string[];
}

/** `flagMetadata`: every field of the flag's metadata (`HANOI.META`), as
 * strings, and its `type`. */
function flagMetadata(info: Description): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(info.metadata)) {
    if (v !== undefined && v !== null) out[k] = String(v);
  }
  out.type = info.type;
  return out;
}

/** The connection error of a server without the module. */
function noModule(e: unknown): boolean {
  return e instanceof Error && /unknown command/i.test(e.message);
}

function isHanoi(x: unknown): x is Hanoi {
  return x instanceof Hanoi || (typeof x === "object" && x !== null && typeof (x as Hanoi).resolve === "function" && "connection" in x);
}

/** OpenFeature over hanoi: `new HanoiProvider(redisClient)` or `new HanoiProvider(hanoi)`. */
export class HanoiProvider implements Provider {
  readonly runsOn = "server" as const;
  readonly metadata = { name: "hanoi" } as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly hanoi: Hanoi;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly wantEvents: boolean;
  private readonly logger: Pick<Logger, "warn">;
  private readonly cache = new Map<string, { at: number; info: Description }>();
  private watcher: Watcher | undefined;
  private readonly experiments: boolean | ReadonlySet<string>;
  private readonly named: readonly string[];
  /** The flags evaluated with a running experiment: their metrics. */
  private readonly running = new Map<string, readonly string[]>();
  private readonly tracking = new Set<Promise<void>>();

  constructor(redis: unknown, options: HanoiProviderOptions = {}) {
    const e = options.experiments ?? false;
    this.experiments = typeof e === "boolean" ? e : new Set(e);
    this.named = typeof e === "boolean" ? [] : [...e];
    this.hanoi = isHanoi(redis) ? redis : new Hanoi(redis, { prefix: options.prefix });
    this.ttlMs = (options.cacheSeconds ?? 1) * 1000;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.wantEvents = options.events ?? !this.hanoi.connection.cluster;
    this.logger = options.logger ?? console;
  }

  // ----- lifecycle -----

  async initialize(_context?: EvaluationContext): Promise<void> {
    await this.onClose(); // registered again: start afresh
    await this.hanoi.connection.send(undefined, true, ["PING"]);
    try {
      // the module is there? (a missing flag answers nil)
      await this.hanoi.describe("");
    } catch (e) {
      if (noModule(e)) {
        throw new ProviderFatalError(
          "the server has no hanoi module (HANOI.GET is an unknown command): load it with --loadmodule libhanoi.so",
        );
      }
      if (!(e instanceof HanoiError)) throw e; // WRONGTYPE on the bare prefix: the module is there
    }
    if (this.wantEvents) {
      if (this.hanoi.connection.cluster) throw new Error("events need a single Redis server (not a cluster client)");
      const watcher = new Watcher(this);
      await watcher.start();
      this.watcher = watcher;
    }
  }

  async onClose(): Promise<void> {
    await this.flush();
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await w.close();
    this.forget();
  }

  // ----- experiments -----

  /** Whether this evaluation records the exposure (HANOI.ASSIGN). */
  private assigns(flagKey: string, info: Description): boolean {
    if (this.experiments === false) return false;
    if (this.experiments !== true && !this.experiments.has(flagKey)) return false;
    const e = info.experiment;
    if (!e || e.state !== "running") {
      this.running.delete(flagKey);
      return false;
    }
    if (this.running.size > 10_000) this.running.clear();
    this.running.set(flagKey, e.metrics);
    return true;
  }

  /** OpenFeature's tracking: HANOI.TRACK on the flag(s) (see above). */
  track(trackingEventName: string, context?: EvaluationContext, details?: TrackingEventDetails): void {
    const id = context?.targetingKey;
    if (!id) {
      this.warn(`track(${trackingEventName}): no targetingKey, nothing recorded`);
      return;
    }
    const named = details?.flag;
    let flags: string[];
    if (typeof named === "string") flags = [named];
    else if (Array.isArray(named)) flags = named.map(String);
    else flags = this.named.length ? [...this.named] : [...this.running].filter(([, m]) => m.includes(trackingEventName)).map(([f]) => f);
    if (!flags.length) {
      this.warn(`track(${trackingEventName}): no flag (details.flag, or experiments: [...]): nothing recorded`);
      return;
    }
    let value: number | bigint = 1;
    if (details?.value !== undefined) value = details.value;
    try {
      trackValue(value);
    } catch (e) {
      this.warn(`track(${trackingEventName}): ${(e as Error).message}: nothing recorded`);
      return;
    }
    const sent: Promise<void> = Promise.all(flags.map((f) => this.hanoi.track(f, id, trackingEventName, value)))
      .then(() => undefined)
      .catch((e: unknown) => this.warn(`track(${trackingEventName}) on ${flags.join(", ")}: ${String(e)}`))
      .finally(() => this.tracking.delete(sent));
    this.tracking.add(sent);
  }

  /** Waits for the `track` calls still being sent. */
  async flush(): Promise<void> {
    while (this.tracking.size) await Promise.all([...this.tracking]);
  }

  /** Drops a flag's cached description (no name: every flag's). */
  forget(flag?: string): void {
    if (flag === undefined) this.cache.clear();
    else this.cache.delete(flag);
  }

  /** @internal */
  warn(message: string): void {
    this.logger.warn(message);
  }

  // ----- resolution -----

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return this.resolve("boolean", flagKey, defaultValue, context);
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return this.resolve("string", flagKey, defaultValue, context);
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return this.resolve("number", flagKey, defaultValue, context);
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return this.resolve("object", flagKey, defaultValue, context);
  }

  private static context(ctx: EvaluationContext | undefined): [string, Attributes] {
    const attrs: Record<string, string | number | boolean> = {};
    let id = "";
    for (const [k, v] of Object.entries(ctx ?? {})) {
      if (k === "targetingKey") {
        if (v !== undefined && v !== null) id = String(v);
        continue;
      }
      if (v === null || v === undefined) continue;
      if (v instanceof Date) attrs[k] = v.toISOString();
      else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") attrs[k] = v;
      else throw new InvalidContextError(`attribute ${k}: ${Array.isArray(v) ? "a list" : "an object"} cannot be compared by rules`);
    }
    return [id, attrs];
  }

  private static failure(flagKey: string, e: unknown, evaluating: boolean): OpenFeatureError {
    if (e instanceof OpenFeatureError) return e;
    if (e instanceof FlagNotFound) return new FlagNotFoundError(`no such flag: ${flagKey}`);
    if (e instanceof HanoiError) {
      if (e.message.startsWith("WRONGTYPE")) return new FlagNotFoundError(`${flagKey} is not a flag`);
      if (evaluating) return new InvalidContextError(e.message); // the module refused the attributes
    }
    const err = e instanceof Error ? e : new Error(String(e));
    return new GeneralError(`${err.name}: ${err.message}`);
  }

  private async describe(flagKey: string): Promise<Description | null> {
    const hit = this.cache.get(flagKey);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.info;
    let info: Description | null;
    try {
      info = await this.hanoi.describe(flagKey);
    } catch (e) {
      throw HanoiProvider.failure(flagKey, e, false);
    }
    if (info && this.ttlMs > 0) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(flagKey, { at: Date.now(), info });
    }
    return info;
  }

  private static mismatch<T>(kind: Kind, flagKey: string, defaultValue: T, info: Description): ResolutionDetails<T> {
    return {
      value: defaultValue,
      reason: StandardResolutionReasons.ERROR,
      errorCode: ErrorCode.TYPE_MISMATCH,
      errorMessage: `${flagKey} is a ${info.type} flag, not ${kind}`,
      flagMetadata: flagMetadata(info),
    };
  }

  /** An evaluation, or GENERAL once `timeoutMs` has passed (the command
   * itself goes on in the client, its answer unread). */
  private resolve<T>(kind: Kind, flagKey: string, defaultValue: T, ctx: EvaluationContext | undefined): Promise<ResolutionDetails<T>> {
    const answer = this.evaluate(kind, flagKey, defaultValue, ctx);
    if (!(this.timeoutMs > 0 && Number.isFinite(this.timeoutMs))) return answer;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new GeneralError(`no answer from Redis within ${this.timeoutMs} ms (${flagKey})`)),
        this.timeoutMs,
      );
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  }

  private async evaluate<T>(kind: Kind, flagKey: string, defaultValue: T, ctx: EvaluationContext | undefined): Promise<ResolutionDetails<T>> {
    const [id, attrs] = HanoiProvider.context(ctx);
    let info = await this.describe(flagKey);
    if (info === null) throw new FlagNotFoundError(`no such flag: ${flagKey}`);
    if (info.type !== kind) return HanoiProvider.mismatch(kind, flagKey, defaultValue, info);
    let resolved: Resolution;
    try {
      resolved = this.assigns(flagKey, info)
        ? await this.hanoi.assign(flagKey, id, attrs)
        : await this.hanoi.resolve(flagKey, id, attrs);
    } catch (e) {
      throw HanoiProvider.failure(flagKey, e, true);
    }
    if (resolved.reason === "undefined") {
      // deleted since its description was read
      this.forget(flagKey);
      throw new FlagNotFoundError(`no such flag: ${flagKey}`);
    }
    if (resolved.reason === "needs_id") {
      throw new TargetingKeyMissingError(
        `${flagKey}'s answer depends on the targetingKey (a percentage, a rule's rollout or a pick among variants)`,
      );
    }
    if (resolved.reason === "error") {
      // references past their bounds (more than 8 levels, a cycle): off
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.GENERAL,
        errorMessage: String(resolved.detail),
        flagMetadata: flagMetadata(info),
      };
    }
    const reason = OPENFEATURE_REASONS[resolved.reason] ?? StandardResolutionReasons.UNKNOWN;
    const now: FlagType | null = resolved.type;
    if (now !== null && now !== info.type) {
      // redefined since its description was read: the answer names its type now
      this.forget(flagKey);
      info = { ...info, type: now };
      if (now !== kind) return HanoiProvider.mismatch(kind, flagKey, defaultValue, info);
    }
    const metadata = flagMetadata(info);
    // off: the DEFAULT variant's value, or the caller's default; no error
    if (resolved.reason === "prerequisite") metadata.prerequisite = String(resolved.detail);
    if (now === "boolean" && resolved.variant === null && resolved.value !== null) {
      // a flag without variants: on or off
      return { value: resolved.enabled as T, variant: resolved.enabled ? "on" : "off", reason, flagMetadata: metadata };
    }
    if (resolved.variant === null || resolved.value === null) {
      // off, no DEFAULT variant: the caller's default
      return { value: defaultValue, reason, flagMetadata: metadata };
    }
    const v = resolved.value;
    const fits =
      kind === "object" ? typeof v === "object" && v !== null : typeof v === kind;
    if (!fits) return HanoiProvider.mismatch(kind, flagKey, defaultValue, info);
    return { value: v as T, variant: resolved.variant, reason, flagMetadata: metadata };
  }
}

/** Keyspace events → ConfigurationChanged, and the subscriber connection's
 * health → Error / Ready. */
class Watcher {
  private sub: any;
  private lost = false;
  private closed = false;
  private readonly pattern: string;
  private readonly cut: number;

  constructor(private readonly provider: HanoiProvider) {
    const h = provider.hanoi;
    const channel = `__keyspace@${h.connection.db()}__:`;
    this.pattern = channel + globEscape(h.prefix) + "*";
    this.cut = channel.length + h.prefix.length;
  }

  async start(): Promise<void> {
    await this.checkConfig();
    const h = this.provider.hanoi;
    const client = h.redis;
    if (h.connection.kind === "ioredis") {
      const sub = client.duplicate();
      this.sub = sub;
      sub.on("error", () => {}); // seen as close/ready below
      sub.on("pmessage", (_p: unknown, channel: unknown, message: unknown) => this.message(text(channel), text(message)));
      sub.on("close", () => this.drop());
      sub.on("ready", () => {
        if (this.lost && !this.closed) {
          sub.psubscribe(this.pattern).then(() => this.back(), () => {});
        }
      });
      await sub.psubscribe(this.pattern);
    } else {
      const sub = client.duplicate();
      this.sub = sub;
      sub.on("error", () => this.drop());
      sub.on("end", () => this.drop());
      sub.on("reconnecting", () => this.drop());
      sub.on("ready", () => {
        if (this.lost && !this.closed) this.back();
      });
      await sub.connect();
      await sub.pSubscribe(this.pattern, (message: unknown, channel: unknown) => this.message(text(channel), text(message)));
    }
  }

  private async checkConfig(): Promise<void> {
    let reply: unknown;
    try {
      reply = await this.provider.hanoi.connection.send(undefined, true, ["CONFIG", "GET", "notify-keyspace-events"]);
    } catch {
      return; // CONFIG refused (ACL, a managed Redis): cannot tell
    }
    let flags = text(entries(reply)[0]?.[1] ?? "");
    if (flags.includes("A")) flags += "gd";
    if (!flags.includes("K") || !flags.includes("d")) {
      this.provider.warn(
        `hanoi-redis: notify-keyspace-events is "${flags}": without K and d no flag change is seen (ConfigurationChanged); set it to Kgxd`,
      );
    }
  }

  private message(channel: string, event: string): void {
    if (!(event.startsWith("hanoi.") || KEY_EVENTS.has(event))) return;
    const name = channel.slice(this.cut);
    this.provider.forget(name);
    this.provider.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [name], message: event });
  }

  private drop(): void {
    if (this.lost || this.closed) return;
    this.lost = true;
    this.provider.forget();
    this.provider.events.emit(ProviderEvents.Error, {
      message: "lost the connection to Redis",
      errorCode: ErrorCode.GENERAL,
    });
  }

  private back(): void {
    if (!this.lost || this.closed) return;
    this.lost = false;
    this.provider.forget();
    this.provider.events.emit(ProviderEvents.Ready, { message: "reconnected" });
    this.provider.events.emit(ProviderEvents.ConfigurationChanged, { message: "reconnected: any flag may have changed" });
  }

  async close(): Promise<void> {
    this.closed = true;
    const sub = this.sub;
    this.sub = undefined;
    if (!sub) return;
    if (this.provider.hanoi.connection.kind === "ioredis") sub.disconnect();
    else if (typeof sub.destroy === "function") sub.destroy();
    else await sub.disconnect();
  }
}
