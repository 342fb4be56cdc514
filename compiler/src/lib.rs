//! The mlsys front end: `.mlsys` text in, a feature plan and diagnostics out. No IO, no async.
//!
//! ```
//! use mlsys_compiler::{compile, source::SourceFile};
//!
//! let text = r#"
//!     source events {
//!       format = csv
//!       location = "data/events"
//!       timestamp = at
//!       schema { user_id: string, amount: float64, at: timestamp }
//!     }
//!     entity user { key user_id: string }
//!     features spend v1 {
//!       entity = user
//!       from = events
//!       total_7d = sum(amount) over 7d every 1h
//!     }
//!     model m {
//!       examples = events
//!       label = amount
//!       features = [spend@v1]
//!       algorithm = gbdt(trees = 10)
//!       train { snapshot = 2026-01-01 .. 2026-01-31, holdout = 2026-02-01 .. 2026-02-07, metric = rmse }
//!     }
//!     serve api { model = m@production, mode = realtime }
//! "#;
//! let compilation = compile(&[SourceFile::new("project.mlsys", text)]);
//! assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
//! let plan = compilation.plan.expect("a clean project has a plan");
//! let text = mlsys_compiler::plan::print::plan_text(&plan);
//! assert!(text.contains("total_7d: int64? = aggregate sum($amount) over 7d every 1h") || text.contains("total_7d: float64?"));
//! assert!(mlsys_compiler::plan::verify::verify(&plan).is_empty());
//! ```

pub mod builtins;
mod check;
pub mod diagnostic;
pub mod evolution;
pub mod format;
pub mod index;
pub mod lock;
pub mod paths;
pub mod plan;
pub mod render;
pub mod source;
pub mod syntax;
pub mod types;

use diagnostic::Diagnostic;
use plan::Plan;
use source::{FileId, SourceFile};

/// The result of compiling a project: a plan when there were no errors, and every diagnostic.
#[derive(Debug)]
pub struct Compilation {
    pub plan: Option<Plan>,
    /// Sorted by file, then position.
    pub diagnostics: Vec<Diagnostic>,
    /// Every definition and reference, also for projects with errors (editors need it most then).
    pub index: index::SymbolIndex,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks a project (its files in a stable order; `FileId(i)` is `files[i]`).
pub fn compile(files: &[SourceFile]) -> Compilation {
    let mut declarations = Vec::new();
    let mut diagnostics = Vec::new();
    let mut unparsed = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let file_id = FileId(u32::try_from(index).unwrap_or(u32::MAX));
        if let Some(diagnostic) = file.utf8_diagnostic(file_id) {
            diagnostics.push(diagnostic);
            continue;
        }
        let mut parsed = syntax::parse_file(file_id, &file.text);
        declarations.append(&mut parsed.declarations);
        diagnostics.append(&mut parsed.diagnostics);
        unparsed.append(&mut parsed.unparsed);
    }
    let checked = check::check(&declarations, &unparsed);
    let plan = checked.plan;
    diagnostics.extend(checked.diagnostics);
    diagnostics.sort_by_key(|diagnostic| (diagnostic.primary_span(), diagnostic.code));
    let plan = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        plan
    };
    Compilation {
        plan,
        diagnostics,
        index: checked.index,
    }
}
