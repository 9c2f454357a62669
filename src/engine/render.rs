//! Renders a script error the one way the CLI prints it: message, `file:line:col`,
//! and the source line with a caret.

use rhai::{EvalAltResult, ParseError, Position};

/// Finds the source text of a script or module by the name it was compiled under.
pub type SourceLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The frames of an error, outermost first: `(source, position)` of each call on the way
/// to the failure. Frames of `step` closures (`anon$…`) are skipped so that the position is
/// the failing call inside the step.
fn frames(e: &EvalAltResult, source: Option<&str>, out: &mut Vec<(Option<String>, Position)>) {
    match e {
        EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) => {
            if !pos.is_none() && !name.starts_with("anon$") {
                out.push((source.map(str::to_owned), *pos));
            }
            let src = if src.is_empty() { source } else { Some(src.as_str()) };
            frames(inner, src, out);
        }
        EvalAltResult::ErrorInModule(name, inner, pos) => {
            if !pos.is_none() {
                out.push((source.map(str::to_owned), *pos));
            }
            frames(inner, Some(name.as_str()), out);
        }
        other => {
            let pos = other.position();
            if !pos.is_none() {
                out.push((source.map(str::to_owned), pos));
            }
        }
    }
}

/// `error: …` with a source excerpt of the innermost frame, and the calls that led there.
pub fn render_eval(e: &EvalAltResult, main_source: &str, lookup: SourceLookup) -> String {
    let mut fs = Vec::new();
    frames(e, Some(main_source), &mut fs);
    let msg = super::error_text(e);
    let Some((src, pos)) = fs.pop() else {
        return format!("error: {msg}");
    };
    let mut out = snippet(&msg, src.as_deref().unwrap_or(main_source), pos, lookup);
    for (src, pos) in fs.iter().rev() {
        if let (Some(line), Some(col)) = (pos.line(), pos.position()) {
            out.push_str(&format!(
                "\n   = called from {}:{line}:{col}",
                src.as_deref().unwrap_or(main_source)
            ));
        }
    }
    out
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
    if let Some(text) = lookup(source_name)
        && let Some(src_line) = text.lines().nth(line - 1)
    {
        let w = line.to_string().len();
        let pad = " ".repeat(w);
        out.push_str(&format!(
            "\n{pad} |\n{line} | {src_line}\n{pad} | {}^",
            " ".repeat(col.saturating_sub(1))
        ));
    }
    out
}
