//! Every error the rules can give, in one place. `Display` is the message a
//! Redis client sees after `ERR `.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The flag does not exist (define it first).
    UnknownFlag,
    /// A percentage outside 0..=100 or not an integer.
    InvalidPercentage,
    /// A regex that does not compile, with the pattern and the reason.
    InvalidRegex { pattern: String, reason: String },
    /// An empty regex would match every id.
    EmptyRegex,
    /// More regexes on one flag than the limit allows.
    TooManyRegexes { limit: usize },
    /// A flag's patterns would scan more bytes per evaluation than allowed.
    RegexWork { work: usize, limit: usize },
    /// An id longer than the limit.
    IdTooLong { len: usize, limit: usize },
    /// More variants than the limit allows.
    TooManyVariants { limit: usize },
    /// The number of weights differs from the number of variants.
    WeightsCount { variants: usize, weights: usize },
    /// A weight of zero (weights are integers > 0).
    InvalidWeight,
    /// WEIGHTS given without VARIANTS.
    WeightsWithoutVariants,
    /// A variant name that is empty.
    EmptyVariantName,
    /// The same variant name twice.
    DuplicateVariant(String),
    /// Stored data that cannot be read back (RDB, RESTORE).
    Corrupt,
    /// Stored data that ends too early.
    ShortRead,
    /// Stored data of an encoding version this code does not know.
    UnknownEncoding(i32),
    /// `created` is set by hanoi when the flag is created.
    CreatedIsSet,
    /// `WITH id ...`: the id is the attribute `id`, given apart.
    IdAttribute,
    /// The same attribute twice in one evaluation.
    RepeatedAttribute(String),
    /// A rule that does not parse, or cannot be set.
    BadRule(String),
    /// A schedule that does not hold together.
    BadSchedule(String),
    /// A rule argument that does not parse as its operator needs.
    BadRuleArgument(String),
    /// More values in an IN/NOTIN list than the limit allows.
    TooManyInValues { limit: usize },
    /// A metadata field name that is empty.
    EmptyField,
    /// A metadata value over the limit.
    ValueTooLong { limit: usize },
    /// More metadata fields than the limit allows.
    TooManyFields { limit: usize },
    /// A `HANOI.DEFINE` option that does not exist.
    UnknownOption(String),
    /// An option given without its value.
    MissingValue(&'static str),
    /// An option given twice, or with its opposite.
    RepeatedOption(&'static str),
    /// A VARIANTS count that is not a non-negative integer.
    BadVariantCount(String),
    /// Fewer variant names than the count announced.
    MissingVariantNames { count: usize, got: usize },
    /// A command given too few or too many arguments.
    WrongArity,
    /// `VALUES` or `DEFAULT` that do not hold together.
    BadValue(String),
    /// Arguments that do not fit the command's syntax: the message says how.
    Usage(String),
    /// A write a segment does not take (it answers membership): what it has
    /// not.
    Segment(&'static str),
    /// A reference (a segment, a prerequisite) that cannot be written: not
    /// there, of the wrong kind, a cycle, too many.
    Reference(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownFlag => write!(f, "no such flag"),
            Error::InvalidPercentage => {
                write!(f, "percentage must be an integer between 0 and 100")
            }
            Error::InvalidRegex { pattern, reason } => {
                // Keep the reply on one line: Redis errors cannot hold newlines.
                let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
                write!(f, "invalid regex '{pattern}': {reason}")
            }
            Error::EmptyRegex => write!(
                f,
                "empty regex would match every id (use PERCENTAGE 100 for everybody)"
            ),
            Error::TooManyRegexes { limit } => {
                write!(f, "too many regexes for one flag (limit {limit})")
            }
            Error::RegexWork { work, limit } => write!(
                f,
                "regex budget exceeded: the flag's regexes and MATCHES conditions would scan up to {work} bytes per evaluation (each reads at most {} bytes), over hanoi.max-regex-work ({limit})",
                crate::regexes::MAX_ID_LEN
            ),
            Error::IdTooLong { len, limit } => write!(
                f,
                "id of {len} bytes is longer than hanoi.max-id-bytes ({limit})"
            ),
            Error::TooManyVariants { limit } => {
                write!(f, "too many variants (limit {limit})")
            }
            Error::WeightsCount { variants, weights } => write!(
                f,
                "{weights} weights for {variants} variants: give one weight per variant"
            ),
            Error::InvalidWeight => write!(f, "weight must be an integer greater than 0"),
            Error::WeightsWithoutVariants => write!(f, "WEIGHTS needs VARIANTS"),
            Error::EmptyVariantName => write!(f, "variant name must not be empty"),
            Error::DuplicateVariant(name) => write!(f, "duplicate variant name '{name}'"),
            Error::Corrupt => write!(f, "corrupt flag data"),
            Error::ShortRead => write!(f, "short read"),
            Error::IdAttribute => write!(f, "the id is the attribute 'id': it cannot be set with WITH"),
            Error::RepeatedAttribute(a) => write!(f, "attribute '{a}' given twice"),
            Error::BadRule(m) | Error::BadRuleArgument(m) | Error::BadSchedule(m) => write!(f, "{m}"),
            Error::TooManyInValues { limit } => write!(f, "too many values in an IN list (limit {limit}, hanoi.max-in-values)"),
            Error::CreatedIsSet => write!(f, "'created' is set when the flag is created and cannot be changed"),
            Error::EmptyField => write!(f, "metadata field name must not be empty"),
            Error::ValueTooLong { limit } => write!(f, "metadata value longer than {limit} bytes (hanoi.max-meta-value-bytes)"),
            Error::TooManyFields { limit } => write!(f, "too many metadata fields (limit {limit}, hanoi.max-meta-fields)"),
            Error::UnknownEncoding(v) => write!(
                f,
                "flag data of encoding version {v}, newer than this hanoi reads (1 to {}): upgrade hanoi",
                crate::codec::ENCODING_VERSION
            ),
            Error::UnknownOption(o) => write!(f, "unknown option '{o}'"),
            Error::MissingValue(kw) => write!(f, "{kw} needs a value"),
            Error::RepeatedOption(kw) => write!(f, "{kw} given twice or with its opposite"),
            Error::BadVariantCount(c) => {
                write!(
                    f,
                    "VARIANTS count must be a non-negative integer, got '{c}'"
                )
            }
            Error::MissingVariantNames { count, got } => {
                write!(f, "VARIANTS {count} needs {count} names, got {got}")
            }
            Error::WrongArity => write!(f, "wrong number of arguments"),
            Error::Usage(m) | Error::BadValue(m) | Error::Reference(m) => write!(f, "{m}"),
            Error::Segment(what) => write!(
                f,
                "a segment has no {what}: it answers membership (HANOI.DEFINE key without SEGMENT makes it a flag)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// What `Rollout::check` returns when the feature is off for the id: the Rust
/// counterpart of hanoi's `@check` refusing to run the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEnabled {
    pub flag: String,
    pub id: Option<String>,
}

impl fmt::Display for NotEnabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "feature '{}' is not enabled for '{}'", self.flag, id),
            None => write!(f, "feature '{}' is not enabled", self.flag),
        }
    }
}

impl std::error::Error for NotEnabled {}
