export { Hanoi, type HanoiOptions, type Registration } from "./hanoi.js";
export { HanoiError, FlagNotFound } from "./errors.js";
export { commands, type Built, type Definition, type Time, type IdList, type IdsOptions } from "./commands.js";
export type { Connection, Arg } from "./client.js";
export { OPENFEATURE_REASONS } from "./reasons.js";
export { REASONS } from "./replies.js";
export type {
  Attributes,
  AttributeValue,
  Condition,
  Description,
  Explanation,
  FlagType,
  HistoryEntry,
  Id,
  IdsPage,
  NamedRule,
  Period,
  Prerequisite,
  Reason,
  Resolution,
  Rule,
  Series,
  Stats,
} from "./replies.js";
