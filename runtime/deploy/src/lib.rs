//! Model serving: what `mlsysc deploy` runs for a project's `serve` targets (lang-spec
//! `grammar.md` §7.6).

pub mod oip;
