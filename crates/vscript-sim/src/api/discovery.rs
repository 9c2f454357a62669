//! Discovery documents generated from `store::RESOURCES`: `/version`, aggregated
//! discovery (`/api`, `/apis` as `APIGroupDiscoveryList`, kube-wire §2 and §10.1) and
//! the legacy documents kubectl falls back to (`APIVersions`, `APIGroupList`,
//! `APIResourceList`, §10.2).

use serde_json::{Value, json};

use crate::store::{RESOURCES, Resource};

/// The exact Content-Type kubectl needs to accept aggregated discovery.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/version`; `minor` picks the kubectl binary of the Cloud SDK dispatcher.
pub fn version(minor: &str) -> Value {
    json!({
        "major": "1", "minor": minor, "gitVersion": format!("v1.{minor}.4"),
        "gitCommit": "4cb5f07d6e64d3a1fee82e3e1f9c8e0bc8a3f1c0", "gitTreeState": "clean",
        "buildDate": "2025-04-22T00:00:00Z", "goVersion": "go1.23.8", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// A resource that is not stored: a review the server answers to a `create` and forgets.
pub(crate) struct Virtual {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
}

/// The self reviews (`kubectl auth whoami`, `kubectl auth can-i [--list]`).
pub(crate) static VIRTUAL: &[Virtual] = &[
    Virtual {
        group: "authentication.k8s.io",
        version: "v1",
        kind: "SelfSubjectReview",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
    },
    Virtual {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
    },
    Virtual {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectRulesReview",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
    },
];

/// Groups in discovery order: the order of first appearance in `RESOURCES`, then the
/// review groups.
fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for g in RESOURCES.iter().map(|r| r.group).chain(VIRTUAL.iter().map(|v| v.group)) {
        if !g.is_empty() && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

fn virtual_of(group: &str, version: &str) -> impl Iterator<Item = &'static Virtual> {
    let (group, version) = (group.to_owned(), version.to_owned());
    VIRTUAL.iter().filter(move |v| v.group == group && v.version == version)
}

fn resources_of(group: &str, version: &str) -> impl Iterator<Item = &'static Resource> {
    let (group, version) = (group.to_owned(), version.to_owned());
    RESOURCES.iter().filter(move |r| r.group == group && r.version == version)
}

fn verbs(r: &Resource) -> Vec<&'static str> {
    if r.plural == "namespaces" {
        vec!["create", "delete", "get", "list", "patch", "update", "watch"]
    } else {
        vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }
}

fn categories(r: &Resource) -> Vec<&'static str> {
    match r.plural {
        "pods" | "services" | "statefulsets" | "jobs" | "cronjobs" => vec!["all"],
        _ => vec![],
    }
}

/// `(group, version, kind, verbs)` of a subresource.
fn subresource(r: &Resource, sub: &str) -> (&'static str, &'static str, &'static str, Vec<&'static str>) {
    match sub {
        "scale" => ("autoscaling", "v1", "Scale", vec!["get", "patch", "update"]),
        "log" => (r.group, r.version, r.kind, vec!["get"]),
        _ => (r.group, r.version, r.kind, vec!["get", "patch", "update"]),
    }
}

fn aggregated_resource(r: &Resource) -> Value {
    let subs: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| {
            let (g, v, k, verbs) = subresource(r, s);
            json!({"subresource": s, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": verbs})
        })
        .collect();
    let mut v = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": verbs(r),
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    let cats = categories(r);
    if !cats.is_empty() {
        v["categories"] = json!(cats);
    }
    if !subs.is_empty() {
        v["subresources"] = json!(subs);
    }
    v
}

fn aggregated_group(group: &str) -> Value {
    let mut versions: Vec<&str> = Vec::new();
    let all = RESOURCES
        .iter()
        .filter(|r| r.group == group)
        .map(|r| r.version)
        .chain(VIRTUAL.iter().filter(|v| v.group == group).map(|v| v.version));
    for v in all {
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = resources_of(group, v)
                .map(aggregated_resource)
                .chain(virtual_of(group, v).map(|x| {
                    json!({"resource": x.plural, "responseKind": {"group": x.group, "version": x.version, "kind": x.kind},
                           "scope": "Cluster", "singularResource": x.singular, "verbs": ["create"]})
                }))
                .collect();
            json!({"version": v, "freshness": "Current", "resources": resources})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

/// `APIGroupDiscoveryList` for `/api` (`core`) or `/apis`.
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group("")]
    } else {
        groups().into_iter().map(aggregated_group).collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// Legacy `/api`: `APIVersions`.
pub fn api_versions(host: &str) -> Value {
    let addr = if host.is_empty() { "127.0.0.1" } else { host };
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
}

fn api_group(group: &str) -> Value {
    let version = RESOURCES
        .iter()
        .find(|r| r.group == group)
        .map(|r| r.version)
        .or_else(|| VIRTUAL.iter().find(|v| v.group == group).map(|v| v.version))
        .unwrap_or("v1");
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// Legacy `/apis`: `APIGroupList`.
pub fn group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups().into_iter().map(api_group).collect::<Vec<_>>()})
}

/// `/apis/<group>`: `APIGroup`, or `None` for an unknown group.
pub fn group(group: &str) -> Option<Value> {
    groups().contains(&group).then(|| {
        let mut g = api_group(group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

/// Legacy `/api/v1`, `/apis/<group>/<version>`: `APIResourceList`, subresources as
/// `parent/sub` entries.
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut out = Vec::new();
    for r in resources_of(group, version) {
        let mut v = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        let cats = categories(r);
        if !cats.is_empty() {
            v["categories"] = json!(cats);
        }
        out.push(v);
        for s in r.subresources {
            let (g, ver, k, verbs) = subresource(r, s);
            let mut sv =
                json!({"name": format!("{}/{}", r.plural, s), "singularName": "", "namespaced": r.namespaced, "kind": k, "verbs": verbs});
            if g != r.group || ver != r.version {
                sv["group"] = json!(g);
                sv["version"] = json!(ver);
            }
            out.push(sv);
        }
    }
    for x in virtual_of(group, version) {
        out.push(json!({"name": x.plural, "singularName": x.singular, "namespaced": false, "kind": x.kind, "verbs": ["create"]}));
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_lists_every_resource_with_short_names() {
        let core = aggregated(true);
        let apis = aggregated(false);
        let count = |v: &Value| -> usize {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["versions"][0]["resources"].as_array().unwrap().len())
                .sum()
        };
        assert_eq!(count(&core) + count(&apis), RESOURCES.len() + VIRTUAL.len());
        let authz = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "authorization.k8s.io")
            .unwrap();
        assert_eq!(authz["versions"][0]["resources"][0]["resource"], "selfsubjectaccessreviews");
        assert_eq!(authz["versions"][0]["resources"][0]["verbs"], json!(["create"]));
        let apps = &apis["items"][0];
        assert_eq!(apps["metadata"]["name"], "apps");
        let sts = &apps["versions"][0]["resources"][0];
        assert_eq!(sts["shortNames"], json!(["sts"]));
        assert_eq!(sts["subresources"][0]["responseKind"]["kind"], "Scale");
        let ns = &core["items"][0]["versions"][0]["resources"][0];
        assert_eq!(
            (ns["resource"].as_str(), ns["scope"].as_str()),
            (Some("namespaces"), Some("Cluster"))
        );
    }

    #[test]
    fn legacy_resource_list_has_subresource_entries() {
        let l = resource_list("apps", "v1");
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
                "daemonsets",
                "daemonsets/status"
            ]
        );
        assert_eq!(l["resources"][1]["group"], "autoscaling");
    }
}
