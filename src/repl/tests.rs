//! Tests of the console as a whole, through `Repl::handle` and `Repl::piped`: entries,
//! commands, errors, `:load` and Ctrl-C.

use super::*;
use crate::run::{EXIT_FAILED, EXIT_OK};

fn session() -> Session {
    run::session::open(&TargetSpec::default(), BTreeMap::new()).expect("session")
}

fn repl(s: &Session) -> Repl<'_> {
    Repl::new(s, false, Arc::new(Mutex::new(None)))
}

#[test]
fn variables_and_functions_persist_between_entries() {
    let s = session();
    let _g = s.rt.enter();
    let mut r = repl(&s);
    assert!(r.handle("let n = 40;").ok);
    assert!(r.handle("fn twice(x) { x * 2 }").ok);
    let reply = r.handle("twice(n) + 2");
    assert_eq!(reply.out.as_deref(), Some("82"), "{reply:?}");
    // A later entry redefines a function; the others stay.
    assert!(r.handle("fn half(x) { x / 2 }").ok);
    assert_eq!(r.handle("half(twice(n))").out.as_deref(), Some("40"));
}

#[test]
fn an_error_is_rendered_and_the_session_goes_on() {
    let s = session();
    let _g = s.rt.enter();
    let mut r = repl(&s);
    r.handle("let ok = 1;");
    let reply = r.handle("let x = 1;\nthrow \"bad thing\";");
    assert!(!reply.ok);
    let err = reply.err.unwrap();
    assert!(err.starts_with("error: bad thing"), "{err}");
    assert!(err.contains("<input 2>:2:1"), "{err}");
    assert!(err.contains("2 | throw \"bad thing\";"), "{err}");
    r.handle("fn inner() {\n    throw \"deep\";\n}");
    r.handle("fn outer() { inner() }");
    let err = r.handle("outer()").err.unwrap();
    assert!(
        err.contains("--> <input 3>:2:5") && err.contains("2 |     throw \"deep\";"),
        "{err}"
    );
    let reply = r.handle("undefined_var + 1");
    assert!(reply.err.unwrap().contains("undefined_var"));
    assert_eq!(r.handle("ok").out.as_deref(), Some("1"));
}

#[test]
fn commands_help_doc_ns_and_quit() {
    let s = session();
    let _g = s.rt.enter();
    let mut r = repl(&s);
    assert!(r.handle(":help").out.unwrap().contains(":doc"));
    let d = r.handle(":doc k8s::scale").out.unwrap();
    assert!(d.starts_with("k8s::scale(sts: &str, replicas: i64)"), "{d}");
    let m = r.handle(":doc k8s").out.unwrap();
    assert!(m.contains("k8s::follow_logs("), "{m}");
    assert!(r.handle(":doc nope").err.is_some());
    r.handle("let kept = 7;");
    assert!(r.handle(":ns shared").ok);
    assert_eq!(r.handle(":ns").out.as_deref(), Some("shared"));
    assert_eq!(r.handle("k8s::namespace()").out.as_deref(), Some("shared"));
    assert_eq!(r.handle("kept").out.as_deref(), Some("7"), "the scope survives :ns");
    assert!(r.handle(":context").out.unwrap().contains("namespace   shared"));
    assert!(r.handle(":quit").quit);
    assert!(r.handle(":bogus").err.is_some());
}

#[test]
fn load_brings_in_functions_only() {
    let s = session();
    let _g = s.rt.enter();
    let mut r = repl(&s);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("helpers.rhai");
    std::fs::write(
        &f,
        "//! test\nfn greet(who) { `hello ${who}` }\nthrow \"top level must not run\";\n",
    )
    .unwrap();
    let reply = r.handle(&format!(":load {}", f.display()));
    assert!(reply.ok, "{reply:?}");
    assert!(reply.note.unwrap().contains("greet(who)"));
    assert_eq!(r.handle("greet(\"ops\")").out.as_deref(), Some("hello ops"));
    // Edits are picked up by loading again.
    std::fs::write(&f, "fn greet(who) { `hi ${who}` }\n").unwrap();
    r.handle(&format!(":load {}", f.display()));
    assert_eq!(r.handle("greet(\"ops\")").out.as_deref(), Some("hi ops"));
}

#[test]
fn piped_input_joins_blocks_and_reports_failure() {
    let s = session();
    let _g = s.rt.enter();
    let mut r = repl(&s);
    let code = r.piped("let total = 0;\nfor i in 1..=3 {\n  total += i;\n}\ntotal\n".as_bytes());
    assert_eq!(code, EXIT_OK);
    assert_eq!(r.handle("total").out.as_deref(), Some("6"));
    let code = r.piped("1 + \"\" + nope\n2\n".as_bytes());
    assert_eq!(code, EXIT_FAILED);
}

#[test]
fn docs_and_incident_examples_compile() {
    let s = session();
    let _g = s.rt.enter();
    let r = repl(&s);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for page in ["docs/repl.md", "docs/ja/repl.md", "stdlib/incident.rhai"] {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        let text = text.replace("/// ", "");
        for block in text.split("```rhai\n").skip(1) {
            let code = block.split("```").next().unwrap();
            // In the console the stdlib modules need no import.
            r.engine.compile(code).unwrap_or_else(|e| panic!("{page}: {e}\n{code}"));
            n += 1;
        }
    }
    assert!(n >= 10, "{n} examples");
}

#[test]
fn a_cancelled_command_returns_with_a_fresh_token() {
    let s = session();
    let _g = s.rt.enter();
    let slot: CancelSlot = Arc::new(Mutex::new(None));
    let mut r = Repl::new(&s, false, slot.clone());
    let tripper = std::thread::spawn(move || {
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            if let Some(c) = slot.lock().unwrap().clone() {
                c.trip();
                return true;
            }
        }
        false
    });
    let started = std::time::Instant::now();
    let reply = r.handle("sleep(600)");
    assert!(tripper.join().unwrap());
    assert!(reply.cancelled && !reply.ok, "{reply:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(!r.host.cancel().is_tripped());
    assert_eq!(r.handle("1 + 1").out.as_deref(), Some("2"));
}
