//! Pod logs (`GET …/pods/{name}/log`, kube-wire §5.5, §5.6 and §6): the container's
//! log buffer as chunked `text/plain`; with `follow=true` new lines as the controllers
//! append them, until the log is closed or the pod goes away.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::Response;
use serde_json::Value;
use tokio::sync::watch;

use super::{Query, stream_response};
use crate::store::{ApiError, Store, res};

fn bad_request(msg: String) -> ApiError {
    ApiError::new(400, "BadRequest", msg)
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default()
}

/// The container a log request means, as the real server resolves it.
fn container_of(pod: &Value, pod_name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let containers = names(&pod["spec"]["containers"]);
    let inits = names(&pod["spec"]["initContainers"]);
    if let Some(c) = asked {
        if containers.contains(&c) || inits.contains(&c) {
            return Ok(c.to_owned());
        }
        return Err(bad_request(format!("container {c} is not valid for pod {pod_name}")));
    }
    if let Some(d) = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str()
        && containers.contains(&d)
    {
        return Ok(d.to_owned());
    }
    match containers.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(bad_request(format!("a container name must be specified for pod {pod_name}"))),
        many => {
            let mut msg = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                many.join(" ")
            );
            if !inits.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", inits.join(" ")));
            }
            Err(bad_request(msg))
        }
    }
}

/// Why a container without a log has none yet (`PodInitializing`, `ContainerCreating`).
fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    let st = &pod["status"];
    for list in ["initContainerStatuses", "containerStatuses"] {
        for c in st[list].as_array().map_or(&[][..], Vec::as_slice) {
            if c["name"] == container {
                if c["state"]["running"].is_object() || c["state"]["terminated"].is_object() {
                    return None;
                }
                return Some(c["state"]["waiting"]["reason"].as_str().unwrap_or("PodInitializing").to_owned());
            }
        }
    }
    if st["phase"] == "Running" || st["phase"] == "Succeeded" || st["phase"] == "Failed" {
        None
    } else {
        Some("PodInitializing".to_owned())
    }
}

struct Follow {
    store: Arc<Store>,
    ns: String,
    pod: String,
    container: String,
    from: usize,
    rx: Option<watch::Receiver<usize>>,
    first: Option<Bytes>,
    follow: bool,
    done: bool,
    timestamps: bool,
    limit: Option<usize>,
    sent: usize,
}

impl Follow {
    fn chunk(&mut self, lines: &[String]) -> Option<Bytes> {
        let mut out = String::new();
        for l in lines {
            if self.timestamps {
                out.push_str(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
                out.push(' ');
            }
            out.push_str(l);
            out.push('\n');
        }
        if let Some(limit) = self.limit {
            let room = limit.saturating_sub(self.sent);
            if out.len() >= room {
                let mut cut = room;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
                self.done = true;
            }
        }
        self.sent += out.len();
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    fn pod_exists(&self) -> bool {
        self.store.get(res("Pod"), &self.ns, &self.pod).is_some()
    }

    /// Reads new lines; `None` when the log is gone.
    fn read(&mut self) -> Option<(Vec<String>, bool)> {
        let (lines, closed, rx) = self.store.read_log(&self.ns, &self.pod, &self.container, self.from)?;
        self.from += lines.len();
        self.rx = Some(rx);
        Some((lines, closed))
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(b) = self.first.take() {
            return Some(b);
        }
        loop {
            if self.done || !self.follow {
                return None;
            }
            let changed = match self.rx.as_mut() {
                Some(rx) => tokio::time::timeout(Duration::from_secs(1), rx.changed()).await,
                None => {
                    // No log yet: wait for the container to start writing one.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(Ok(()))
                }
            };
            match changed {
                Err(_) if !self.pod_exists() => return None,
                Err(_) => continue,
                Ok(Err(_)) => self.done = true,
                Ok(Ok(())) => {}
            }
            match self.read() {
                Some((lines, closed)) => {
                    self.done |= closed;
                    if let Some(b) = self.chunk(&lines) {
                        return Some(b);
                    }
                }
                None if self.rx.is_some() || !self.pod_exists() => return None,
                None => {}
            }
        }
    }
}

/// Serves a pod's log as the query asks.
pub fn serve(store: &Arc<Store>, ns: &str, pod_name: &str, q: &Query) -> Result<Response, ApiError> {
    let pods = res("Pod");
    let pod = store.get(pods, ns, pod_name).ok_or_else(|| ApiError::not_found(pods, pod_name))?;
    let container = container_of(&pod, pod_name, q.non_empty("container"))?;
    if q.flag("previous") {
        return Err(bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
        )));
    }
    let tail = match q.non_empty("tailLines") {
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| bad_request(format!("tailLines: Invalid value: \"{t}\"")))?,
        ),
        None => None,
    };
    let limit = q.non_empty("limitBytes").and_then(|l| l.parse::<usize>().ok());
    let mut f = Follow {
        store: store.clone(),
        ns: ns.to_owned(),
        pod: pod_name.to_owned(),
        container: container.clone(),
        from: 0,
        rx: None,
        first: None,
        follow: q.flag("follow"),
        done: false,
        timestamps: q.flag("timestamps"),
        limit,
        sent: 0,
    };
    match f.read() {
        Some((lines, closed)) => {
            let skip = match tail {
                Some(n) if n >= 0 => lines.len().saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => 0,
            };
            f.done |= closed;
            f.first = f.chunk(&lines[skip..]);
        }
        None => {
            if let Some(reason) = waiting_reason(&pod, &container) {
                return Err(bad_request(format!(
                    "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {reason}"
                )));
            }
        }
    }
    let stream = futures::stream::unfold(f, |mut f| async move { f.next_chunk().await.map(|b| (Ok::<_, Infallible>(b), f)) });
    Ok(stream_response("text/plain", stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_defaults_like_the_apiserver() {
        let pod = json!({"metadata": {}, "spec": {"initContainers": [{"name": "load-model"}], "containers": [{"name": "vantiq"}]}});
        assert_eq!(container_of(&pod, "vantiq-0", None).unwrap(), "vantiq");
        assert_eq!(container_of(&pod, "vantiq-0", Some("load-model")).unwrap(), "load-model");
        assert_eq!(
            container_of(&pod, "vantiq-0", Some("nope")).unwrap_err().message,
            "container nope is not valid for pod vantiq-0"
        );
        let two = json!({"metadata": {}, "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            container_of(&two, "p", None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        let annotated = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/default-container": "b"}}, "spec": two["spec"].clone()});
        assert_eq!(container_of(&annotated, "p", None).unwrap(), "b");
    }
}
