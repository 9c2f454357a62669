//! Watch streams (`?watch=true`, kube-wire §4): events strictly after the requested
//! resourceVersion, or the current objects as `ADDED` first; label, field and
//! namespace filters; bookmarks; `timeoutSeconds`; 410 Expired when the version is
//! older than the store's history or the stream fell behind. One JSON event per
//! chunk. The stream is a plain future-driven stream: when the client goes away the
//! response body is dropped and so is everything it holds.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval};

use super::{Query, stream_response, table};
use crate::store::{ApiError, EventType, Resource, Store, WatchEvent, fields_match, labels_match};

/// What a watch selects.
#[derive(Debug, Clone)]
pub struct Filter {
    pub ns: Option<String>,
    pub labels: Option<String>,
    pub fields: Option<String>,
}

impl Filter {
    fn in_scope(&self, ev: &WatchEvent) -> bool {
        self.ns.as_deref().is_none_or(|ns| ns == ev.namespace)
    }
    fn matches(&self, obj: &Value) -> bool {
        self.labels.as_deref().is_none_or(|s| labels_match(&obj["metadata"]["labels"], s))
            && self.fields.as_deref().is_none_or(|s| fields_match(obj, s))
    }
    fn selective(&self) -> bool {
        self.labels.is_some() || self.fields.is_some()
    }
}

fn key(obj: &Value) -> (String, String) {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or("").to_owned(),
        m["name"].as_str().unwrap_or("").to_owned(),
    )
}

struct Watch {
    res: &'static Resource,
    filter: Filter,
    table: bool,
    pending: VecDeque<Bytes>,
    rx: Option<broadcast::Receiver<WatchEvent>>,
    /// Keys that currently match the selectors (to turn "stopped matching" into DELETED).
    matching: HashSet<(String, String)>,
    last_rv: u64,
    deadline: Option<Instant>,
    bookmarks: Option<Interval>,
    done: bool,
}

fn encode(kind: &str, object: Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn expired(rv: u64, current: u64) -> Value {
    super::status_of(&ApiError::new(
        410,
        "Expired",
        format!("too old resource version: {rv} ({current})"),
    ))
}

impl Watch {
    fn object(&self, obj: Value) -> Value {
        if self.table {
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(self.last_rv);
            table::render(self.res, &[obj], rv)
        } else {
            obj
        }
    }

    fn push(&mut self, kind: &str, obj: Value) {
        let obj = self.object(obj);
        self.pending.push_back(encode(kind, obj));
    }

    fn bookmark(&self, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        encode(
            "BOOKMARK",
            json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta}),
        )
    }

    /// Turns one committed write into the events this watch shows, if any.
    fn on_event(&mut self, ev: WatchEvent) {
        self.last_rv = self.last_rv.max(ev.resource_version);
        if ev.resource.plural != self.res.plural || ev.resource.group != self.res.group || !self.filter.in_scope(&ev) {
            return;
        }
        if !self.filter.selective() {
            self.push(ev.kind.as_str(), ev.object);
            return;
        }
        let k = key(&ev.object);
        let now = self.filter.matches(&ev.object);
        let was = self.matching.contains(&k);
        match ev.kind {
            EventType::Deleted if (now || was) => {
                self.matching.remove(&k);
                self.push("DELETED", ev.object);
            }
            _ if now => {
                self.matching.insert(k);
                let kind = if was { "MODIFIED" } else { "ADDED" };
                self.push(kind, ev.object);
            }
            _ if was => {
                self.matching.remove(&k);
                self.push("DELETED", ev.object);
            }
            _ => {}
        }
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            let rx = self.rx.as_mut()?;
            let deadline = self.deadline;
            let sleep_until_deadline = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let bookmarks = self.bookmarks.as_mut();
            let tick = async move {
                match bookmarks {
                    Some(i) => {
                        i.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(ev) => self.on_event(ev),
                    Err(RecvError::Lagged(_)) => {
                        let status = expired(self.last_rv, self.last_rv);
                        self.pending.push_back(encode("ERROR", status));
                        self.done = true;
                    }
                    Err(RecvError::Closed) => self.done = true,
                },
                () = sleep_until_deadline => return None,
                () = tick => {
                    let b = self.bookmark(false);
                    self.pending.push_back(b);
                }
            }
        }
    }
}

/// Starts a watch of `res` as the query asks.
pub fn serve(store: &Arc<Store>, res: &'static Resource, filter: Filter, q: &Query, table: bool) -> Result<Response, ApiError> {
    let rv_param = q.get("resourceVersion").unwrap_or("");
    let send_initial = q.flag("sendInitialEvents");
    let mut w = Watch {
        res,
        filter: filter.clone(),
        table,
        pending: VecDeque::new(),
        rx: None,
        matching: HashSet::new(),
        last_rv: 0,
        deadline: q
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|t| *t > 0)
            .map(|t| Instant::now() + Duration::from_secs(t)),
        bookmarks: q.flag("allowWatchBookmarks").then(|| {
            let mut i = tokio::time::interval_at(Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        }),
        done: false,
    };
    let ns = filter.ns.as_deref();
    let start = if rv_param.is_empty() || rv_param == "0" || send_initial {
        let (items, rv) = store.list(res, ns, filter.labels.as_deref(), filter.fields.as_deref());
        w.last_rv = rv;
        for item in items {
            w.matching.insert(key(&item));
            w.push("ADDED", item);
        }
        if send_initial {
            let b = w.bookmark(true);
            w.pending.push_back(b);
        }
        rv
    } else {
        let rv: u64 = rv_param
            .parse()
            .map_err(|_| ApiError::new(400, "BadRequest", format!("invalid resource version: \"{rv_param}\"")))?;
        w.last_rv = rv;
        if filter.selective() {
            let (items, _) = store.list(res, ns, filter.labels.as_deref(), filter.fields.as_deref());
            w.matching = items.iter().map(key).collect();
        }
        rv
    };
    match store.watch_from(start) {
        Some((past, rx)) => {
            for ev in past {
                w.on_event(ev);
            }
            w.rx = Some(rx);
        }
        None => {
            w.pending.push_back(encode("ERROR", expired(start, store.resource_version())));
            w.done = true;
        }
    }
    let stream = futures::stream::unfold(w, |mut w| async move { w.next_chunk().await.map(|b| (Ok::<_, Infallible>(b), w)) });
    Ok(stream_response("application/json", stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::res;
    use futures::StreamExt;

    async fn events(resp: Response, n: usize) -> Vec<Value> {
        let mut body = resp.into_body().into_data_stream();
        let mut out = Vec::new();
        while out.len() < n {
            let chunk = tokio::time::timeout(Duration::from_secs(3), body.next())
                .await
                .expect("event in time");
            let Some(Ok(chunk)) = chunk else { break };
            for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                out.push(serde_json::from_slice(line).unwrap());
            }
        }
        out
    }

    fn sts(name: &str, app: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"app": app}}, "spec": {"replicas": 1}})
    }

    #[tokio::test]
    async fn watch_applies_selectors_and_resumes_after_the_version() {
        let store = Arc::new(Store::new());
        let r = res("StatefulSet");
        store.create(r, "demo", sts("vantiq", "vantiq"), false).unwrap();
        let rv = store.resource_version();
        let filter = Filter {
            ns: Some("demo".into()),
            labels: Some("app=vantiq".into()),
            fields: None,
        };
        let q = Query::parse(Some(&format!("watch=true&resourceVersion={rv}")));
        let resp = serve(&store, r, filter, &q, false).unwrap();
        store.create(r, "demo", sts("mongodb", "mongodb"), false).unwrap();
        store.create(r, "other", sts("vantiq", "vantiq"), false).unwrap();
        store
            .write(r, "demo", "vantiq", false, |v| {
                v["spec"]["replicas"] = json!(2);
                Ok(())
            })
            .unwrap();
        // Relabelled out of the selector: the watch sees it go.
        store
            .write(r, "demo", "vantiq", false, |v| {
                v["metadata"]["labels"]["app"] = json!("gone");
                Ok(())
            })
            .unwrap();
        let ev = events(resp, 2).await;
        assert_eq!(ev[0]["type"], "MODIFIED");
        assert_eq!(ev[0]["object"]["spec"]["replicas"], 2);
        assert_eq!(ev[1]["type"], "DELETED");
        assert_eq!(ev.len(), 2);
    }

    #[tokio::test]
    async fn watch_from_zero_lists_first_and_initial_events_end_with_a_bookmark() {
        let store = Arc::new(Store::new());
        let r = res("StatefulSet");
        store.create(r, "demo", sts("vantiq", "vantiq"), false).unwrap();
        let all = Filter {
            ns: None,
            labels: None,
            fields: Some("metadata.name=vantiq".into()),
        };
        let resp = serve(&store, r, all.clone(), &Query::parse(Some("watch=1&resourceVersion=0")), false).unwrap();
        let ev = events(resp, 1).await;
        assert_eq!(
            (ev[0]["type"].as_str(), ev[0]["object"]["kind"].as_str()),
            (Some("ADDED"), Some("StatefulSet"))
        );
        let resp = serve(
            &store,
            r,
            all,
            &Query::parse(Some("watch=1&sendInitialEvents=true&allowWatchBookmarks=true")),
            false,
        )
        .unwrap();
        let ev = events(resp, 2).await;
        assert_eq!(ev[1]["type"], "BOOKMARK");
        assert_eq!(ev[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    }

    #[tokio::test]
    async fn expired_version_gets_a_410_error_event_and_the_stream_ends() {
        let store = Arc::new(Store::new());
        let r = res("ConfigMap");
        store
            .create(r, "demo", json!({"metadata": {"name": "c"}, "data": {"n": "0"}}), false)
            .unwrap();
        for i in 0..20_005 {
            store
                .write(r, "demo", "c", false, |v| {
                    v["data"]["n"] = json!(i.to_string());
                    Ok(())
                })
                .unwrap();
        }
        let filter = Filter {
            ns: None,
            labels: None,
            fields: None,
        };
        let resp = serve(&store, r, filter, &Query::parse(Some("watch=true&resourceVersion=1001")), false).unwrap();
        let ev = events(resp, 5).await;
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (
                ev[0]["type"].as_str(),
                ev[0]["object"]["code"].as_i64(),
                ev[0]["object"]["reason"].as_str()
            ),
            (Some("ERROR"), Some(410), Some("Expired"))
        );
    }

    #[tokio::test]
    async fn timeout_ends_the_stream_and_bookmarks_arrive() {
        let store = Arc::new(Store::new());
        let r = res("StatefulSet");
        let filter = Filter {
            ns: None,
            labels: None,
            fields: None,
        };
        let rv = store.resource_version();
        let resp = serve(
            &store,
            r,
            filter,
            &Query::parse(Some(&format!(
                "watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=2"
            ))),
            false,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let ev = events(resp, 10).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(!ev.is_empty() && ev.iter().all(|e| e["type"] == "BOOKMARK"));
    }
}
