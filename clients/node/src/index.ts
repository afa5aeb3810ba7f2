export { Hanoi, type HanoiOptions, type Registration } from "./hanoi.js";
export { HanoiError, FlagNotFound } from "./errors.js";
export { commands, type Built, type Definition, type Time, type IdList, type IdsOptions, type ExperimentOptions } from "./commands.js";
export type { Connection, Arg } from "./client.js";
export { OPENFEATURE_REASONS } from "./reasons.js";
export { REASONS } from "./replies.js";
export type {
  ArmResult,
  Attributes,
  AttributeValue,
  Condition,
  Description,
  ExperimentState,
  Explanation,
  Exposure,
  ExposuresPage,
  FlagType,
  HistoryEntry,
  Id,
  IdsPage,
  MetricResult,
  NamedRule,
  Period,
  Prerequisite,
  Reason,
  Resolution,
  Rule,
  Series,
  Stats,
} from "./replies.js";
