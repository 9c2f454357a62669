//! Renders a script error the one way the CLI prints it: message, `file:line:col`,
//! and the source line with a caret.

use rhai::{EvalAltResult, ParseError, Position};

/// Finds the source text of a script or module by the name it was compiled under.
pub type SourceLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The innermost useful (source, position) of an error: skips the frames of `step`
/// closures (`anon$…`) so the position is the failing call inside the step.
fn locate(e: &EvalAltResult, source: Option<&str>, best: &mut (Option<String>, Position)) {
    match e {
        EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) => {
            if !pos.is_none() && !name.starts_with("anon$") {
                *best = (source.map(str::to_owned), *pos);
            }
            let src = if src.is_empty() { source } else { Some(src.as_str()) };
            locate(inner, src, best);
        }
        EvalAltResult::ErrorInModule(name, inner, pos) => {
            if !pos.is_none() {
                *best = (source.map(str::to_owned), *pos);
            }
            locate(inner, Some(name.as_str()), best);
        }
        other => {
            let pos = other.position();
            if !pos.is_none() {
                *best = (source.map(str::to_owned), pos);
            }
        }
    }
}

/// `error: …` with a source excerpt.
pub fn render_eval(e: &EvalAltResult, main_source: &str, lookup: SourceLookup) -> String {
    let mut best = (Some(main_source.to_owned()), Position::NONE);
    locate(e, Some(main_source), &mut best);
    let msg = super::error_text(e);
    snippet(&msg, best.0.as_deref().unwrap_or(main_source), best.1, lookup)
}

/// A parse error with its excerpt.
pub fn render_parse(e: &ParseError, source_name: &str, lookup: SourceLookup) -> String {
    let msg = e.err_type().to_string();
    snippet(&format!("syntax error: {msg}"), source_name, e.position(), lookup)
}

/// `error: msg\n  --> file:line:col\n   |\nNN | source\n   |     ^`
pub fn snippet(msg: &str, source_name: &str, pos: Position, lookup: SourceLookup) -> String {
    let mut out = format!("error: {msg}");
    let (Some(line), col) = (pos.line(), pos.position().unwrap_or(1)) else {
        return out;
    };
    out.push_str(&format!("\n  --> {source_name}:{line}:{col}"));
    if let Some(text) = lookup(source_name) {
        if let Some(src_line) = text.lines().nth(line - 1) {
            let w = line.to_string().len();
            let pad = " ".repeat(w);
            out.push_str(&format!(
                "\n{pad} |\n{line} | {src_line}\n{pad} | {}^",
                " ".repeat(col.saturating_sub(1))
            ));
        }
    }
    out
}
