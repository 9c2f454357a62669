//! Kubernetes protobuf request bodies (kube-wire §7): kubectl ≥ 1.32 posts
//! `kubectl create job --from=…` as `application/vnd.kubernetes.protobuf`. A small
//! table-driven wire decoder turns the `k8s\0` + `runtime.Unknown` envelope into the
//! JSON object the rest of the server works with. The field table
//! (`proto_schema.json`, from k8s.io/api and apimachinery v0.32 `generated.proto`)
//! covers Job, StatefulSet, PVC, Secret, ConfigMap, Namespace, Scale, DeleteOptions and the
//! self reviews (`kubectl auth can-i`).

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// `field number -> (json name, type, repeated)` per message.
type Schema = HashMap<String, HashMap<u64, (String, String, bool)>>;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let raw: HashMap<String, HashMap<String, (String, String, u8)>> =
            serde_json::from_str(include_str!("proto_schema.json")).expect("proto_schema.json is valid");
        raw.into_iter()
            .map(|(msg, fields)| {
                let fields = fields
                    .into_iter()
                    .filter_map(|(n, (name, ty, rep))| Some((n.parse().ok()?, (name, ty, rep == 1))))
                    .collect();
                (msg, fields)
            })
            .collect()
    })
}

/// Pointer fields of the Go types: an explicit 0 or false is meaningful there, so it is
/// kept; other zero values are the encoder's defaults and are dropped (JSON `omitempty`).
const KEEP_ZERO: &[&str] = &[
    "backoffLimit",
    "replicas",
    "parallelism",
    "completions",
    "partition",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "terminationGracePeriodSeconds",
    "gracePeriodSeconds",
    "suspend",
];

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("protobuf body does not start with the k8s magic number")]
    NoMagic,
    #[error("no protobuf decoding for {0}")]
    UnknownKind(String),
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
}

fn message_for(api_version: &str, kind: &str) -> Option<&'static str> {
    Some(match (api_version, kind) {
        ("batch/v1", "Job") => "batch.Job",
        ("apps/v1", "StatefulSet") => "apps.StatefulSet",
        ("v1", "PersistentVolumeClaim") => "core.PersistentVolumeClaim",
        ("v1", "Secret") => "core.Secret",
        ("v1", "ConfigMap") => "core.ConfigMap",
        ("v1", "Namespace") => "core.Namespace",
        ("meta.k8s.io/v1" | "v1", "DeleteOptions") => "meta.DeleteOptions",
        ("autoscaling/v1", "Scale") => "autoscaling.Scale",
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => "authorization.SelfSubjectAccessReview",
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => "authorization.SelfSubjectRulesReview",
        ("authentication.k8s.io/v1", "SelfSubjectReview") => "authentication.SelfSubjectReview",
        _ => return None,
    })
}

/// Decodes a `k8s\0`-prefixed protobuf body into a JSON object with `kind` and `apiVersion`.
pub fn decode(data: &[u8]) -> Result<Value, DecodeError> {
    let body = data.strip_prefix(b"k8s\0").ok_or(DecodeError::NoMagic)?;
    let (mut type_meta, mut raw) = (&[][..], &[][..]);
    for f in Fields(body) {
        match f? {
            (1, Wire::Bytes(b)) => type_meta = b,
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let (mut api_version, mut kind) = (String::new(), String::new());
    for f in Fields(type_meta) {
        match f? {
            (1, Wire::Bytes(b)) => api_version = String::from_utf8_lossy(b).into_owned(),
            (2, Wire::Bytes(b)) => kind = String::from_utf8_lossy(b).into_owned(),
            _ => {}
        }
    }
    let msg = message_for(&api_version, &kind).ok_or_else(|| DecodeError::UnknownKind(format!("{api_version} {kind}")))?;
    let mut obj = message(msg, raw)?;
    obj["kind"] = json!(kind);
    obj["apiVersion"] = json!(api_version);
    Ok(obj)
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed(u64),
}

/// Iterates over `(field number, value)` of one encoded message.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u64, Wire<'a>), DecodeError> {
        let key = varint(&mut self.0)?;
        let v = match key & 7 {
            0 => Wire::Varint(varint(&mut self.0)?),
            2 => {
                let len = usize::try_from(varint(&mut self.0)?).map_err(|_| DecodeError::Malformed("length too large"))?;
                if len > self.0.len() {
                    self.0 = &[];
                    return Err(DecodeError::Malformed("truncated field"));
                }
                let (b, rest) = self.0.split_at(len);
                self.0 = rest;
                Wire::Bytes(b)
            }
            1 => Wire::Fixed(fixed(&mut self.0, 8)?),
            5 => Wire::Fixed(fixed(&mut self.0, 4)?),
            _ => {
                self.0 = &[];
                return Err(DecodeError::Malformed("unsupported wire type"));
            }
        };
        Ok((key >> 3, v))
    }
}

fn varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or(DecodeError::Malformed("truncated varint"))?;
        *buf = rest;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(DecodeError::Malformed("varint too long"))
}

fn fixed(buf: &mut &[u8], n: usize) -> Result<u64, DecodeError> {
    if buf.len() < n {
        *buf = &[];
        return Err(DecodeError::Malformed("truncated fixed field"));
    }
    let (b, rest) = buf.split_at(n);
    *buf = rest;
    Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

/// An int32/int64 varint as Go wrote it (two's complement in 64 bits).
fn signed(v: u64) -> i64 {
    i64::from_le_bytes(v.to_le_bytes())
}

fn scalar(ty: &str, w: &Wire) -> Result<Value, DecodeError> {
    Ok(match (ty, w) {
        ("string", Wire::Bytes(b)) => json!(String::from_utf8_lossy(b)),
        ("bytes", Wire::Bytes(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        ("bool", Wire::Varint(v)) => json!(*v != 0),
        ("int32" | "int64", Wire::Varint(v)) => json!(signed(*v)),
        ("uint32" | "uint64", Wire::Varint(v) | Wire::Fixed(v)) => json!(v),
        (_, Wire::Fixed(v)) => json!(f64::from_bits(*v)),
        _ => return Err(DecodeError::Malformed("wire type does not match the schema")),
    })
}

fn is_scalar(ty: &str) -> bool {
    matches!(
        ty,
        "string" | "bytes" | "bool" | "int32" | "int64" | "uint32" | "uint64" | "double" | "float"
    )
}

fn value(ty: &str, w: &Wire) -> Result<Value, DecodeError> {
    if is_scalar(ty) {
        return scalar(ty, w);
    }
    let Wire::Bytes(b) = w else {
        return Err(DecodeError::Malformed("expected an embedded message"));
    };
    Ok(match ty {
        "meta.Time" | "meta.MicroTime" => {
            let t = message("meta.Time", b)?;
            match t["seconds"].as_i64().and_then(|s| chrono::DateTime::from_timestamp(s, 0)) {
                Some(ts) if t["seconds"].as_i64() != Some(0) => json!(ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                _ => Value::Null,
            }
        }
        "resource.Quantity" => message(ty, b)?.get("string").cloned().unwrap_or(json!("")),
        "intstr.IntOrString" => {
            let v = message(ty, b)?;
            if v["type"].as_i64() == Some(1) {
                v.get("strVal").cloned().unwrap_or(json!(""))
            } else {
                v.get("intVal").cloned().unwrap_or(json!(0))
            }
        }
        "meta.FieldsV1" => Value::Null,
        _ => message(ty, b)?,
    })
}

fn message(msg: &str, buf: &[u8]) -> Result<Value, DecodeError> {
    let fields = schema().get(msg).ok_or(DecodeError::Malformed("message missing from the schema"))?;
    let mut out = Map::new();
    for f in Fields(buf) {
        let (num, w) = f?;
        let Some((name, ty, repeated)) = fields.get(&num) else { continue };
        if let Some(vt) = ty.strip_prefix("map:") {
            let Wire::Bytes(entry) = w else {
                return Err(DecodeError::Malformed("map entry is not a message"));
            };
            let (mut k, mut v) = (String::new(), None);
            for e in Fields(entry) {
                match e? {
                    (1, Wire::Bytes(b)) => k = String::from_utf8_lossy(b).into_owned(),
                    (2, ew) => v = Some(value(vt, &ew)?),
                    _ => {}
                }
            }
            let m = out.entry(name.clone()).or_insert_with(|| json!({}));
            m[k] = v.unwrap_or(json!(""));
            continue;
        }
        if *repeated
            && matches!(ty.as_str(), "int32" | "int64" | "bool")
            && let Wire::Bytes(mut packed) = w
        {
            let list = out.entry(name.clone()).or_insert_with(|| json!([]));
            while !packed.is_empty() {
                let x = varint(&mut packed)?;
                if let Value::Array(a) = list {
                    a.push(scalar(ty, &Wire::Varint(x))?);
                }
            }
            continue;
        }
        let v = value(ty, &w)?;
        if *repeated {
            if let Value::Array(a) = out.entry(name.clone()).or_insert_with(|| json!([])) {
                a.push(v);
            }
        } else {
            out.insert(name.clone(), v);
        }
    }
    out.retain(|k, v| {
        let zero = match v {
            Value::String(s) => s.is_empty(),
            Value::Bool(b) => !*b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::Null => true,
            Value::Object(m) => m.is_empty() && k != "resources" && k != "securityContext",
            Value::Array(_) => false,
        };
        !zero || (KEEP_ZERO.contains(&k.as_str()) && !v.is_null())
    });
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny protobuf encoder for building test bodies.
    #[derive(Default)]
    struct Enc(Vec<u8>);
    impl Enc {
        fn key(&mut self, n: u64, wt: u64) -> &mut Self {
            self.var(n << 3 | wt)
        }
        fn var(&mut self, mut v: u64) -> &mut Self {
            loop {
                let b = u8::try_from(v & 0x7f).unwrap();
                v >>= 7;
                if v == 0 {
                    self.0.push(b);
                    return self;
                }
                self.0.push(b | 0x80);
            }
        }
        fn bytes(&mut self, n: u64, b: &[u8]) -> &mut Self {
            self.key(n, 2).var(u64::try_from(b.len()).unwrap());
            self.0.extend_from_slice(b);
            self
        }
        fn str(&mut self, n: u64, s: &str) -> &mut Self {
            self.bytes(n, s.as_bytes())
        }
        fn int(&mut self, n: u64, v: u64) -> &mut Self {
            self.key(n, 0).var(v)
        }
        fn msg(&mut self, n: u64, f: impl FnOnce(&mut Enc)) -> &mut Self {
            let mut e = Enc::default();
            f(&mut e);
            self.bytes(n, &e.0)
        }
    }

    fn map_entry(e: &mut Enc, n: u64, k: &str, v: &str) {
        e.msg(n, |m| {
            m.str(1, k).str(2, v);
        });
    }

    #[test]
    fn decodes_a_job_like_kubectl_create_job_sends() {
        let mut job = Enc::default();
        job.msg(1, |m| {
            m.str(1, "m1").str(2, "").str(3, "demo").str(5, "").str(6, "");
            map_entry(m, 11, "app", "mongobackup");
            map_entry(m, 12, "cronjob.kubernetes.io/instantiate", "manual");
            m.msg(13, |o| {
                o.str(1, "CronJob")
                    .str(3, "mongobackup")
                    .str(4, "169e")
                    .str(5, "batch/v1")
                    .int(6, 1);
            });
        });
        job.msg(2, |s| {
            s.int(7, 1); // backoffLimit
            s.int(10, 0); // suspend: false is kept (pointer field)
            s.msg(6, |t| {
                t.msg(1, |_| {});
                t.msg(2, |p| {
                    p.msg(2, |c| {
                        c.str(1, "mongobackup")
                            .str(2, "vantiq/mongobackup:1.0")
                            .str(3, "/bin/sh")
                            .str(3, "-c")
                            .str(3, "mongodump");
                        c.msg(8, |_| {});
                        c.int(16, 0); // stdin: false is dropped
                        c.msg(7, |e| {
                            e.str(1, "A").str(2, "1");
                        });
                    });
                    p.str(3, "Never").int(4, 30);
                    p.msg(14, |_| {});
                });
            });
        });
        let mut env = Enc::default();
        env.0.extend_from_slice(b"k8s\0");
        env.msg(1, |t| {
            t.str(1, "batch/v1").str(2, "Job");
        });
        env.bytes(2, &job.0).str(3, "").str(4, "");
        let v = decode(&env.0).unwrap();
        assert_eq!(v["kind"], "Job");
        assert_eq!(
            v["metadata"],
            json!({"name": "m1", "namespace": "demo", "labels": {"app": "mongobackup"},
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [{"kind": "CronJob", "name": "mongobackup", "uid": "169e", "apiVersion": "batch/v1", "controller": true}]})
        );
        assert_eq!(v["spec"]["backoffLimit"], 1);
        assert_eq!(v["spec"]["suspend"], false);
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["/bin/sh", "-c", "mongodump"]));
        assert_eq!(c["env"], json!([{"name": "A", "value": "1"}]));
        assert_eq!(c["resources"], json!({}));
        assert!(c.get("stdin").is_none());
        assert_eq!(v["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(v["spec"]["template"]["spec"]["securityContext"], json!({}));
    }

    #[test]
    fn rejects_unknown_kinds_and_garbage() {
        let mut env = Enc::default();
        env.0.extend_from_slice(b"k8s\0");
        env.msg(1, |t| {
            t.str(1, "v1").str(2, "Pod");
        });
        assert!(matches!(decode(&env.0), Err(DecodeError::UnknownKind(_))));
        assert!(matches!(decode(b"{}"), Err(DecodeError::NoMagic)));
        assert!(decode(b"k8s\0\x0a\xff\xff").is_err());
        assert!(decode(b"k8s\0\x12\x05ab").is_err());
    }
}
