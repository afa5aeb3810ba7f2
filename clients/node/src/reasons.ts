import type { Reason } from "./replies.js";

/** HANOI.EXPLAIN's reason → OpenFeature's: hanoi-core's `Reason::openfeature`
 * (core/src/describe.rs), the mapping hanoi-web's OFREP and the Python
 * provider use. */
export const OPENFEATURE_REASONS: Readonly<Record<Reason, string>> = {
  disabled: "DISABLED",
  inactive: "DISABLED",
  user: "TARGETING_MATCH",
  regex: "TARGETING_MATCH",
  rule: "TARGETING_MATCH",
  blocked: "TARGETING_MATCH",
  percentage: "SPLIT",
  all: "STATIC",
  outside: "DEFAULT",
  prerequisite: "PREREQUISITE_FAILED",
  undefined: "ERROR",
  needs_id: "ERROR",
  error: "ERROR",
};
