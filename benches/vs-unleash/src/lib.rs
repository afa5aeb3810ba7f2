//! Empty: the comparison lives in `benches/vs_unleash.rs`.
