//! Vantiq license files: `public.pem` and `license.key`, as Vantiq support sends them.
//!
//! Their format is not public, so by default both are **opaque**: vscript checks only what
//! holds for every format — present, readable, not empty; `public.pem` is a PEM public key;
//! `license.key` is not a private key, a certificate or a public key (PEM, DER, or base64 DER);
//! a renewal's `license.key` is not the one already installed. Errors name the file and the
//! reason, never content.
//!
//! Format-specific verification (signature, expiry, issued-to) is pluggable
//! (`[license]` in vscript.toml, see [`Format`]):
//! * `jwt-es256`: `license.key` is a compact JWT signed ES256 by the key in `public.pem`,
//!   claims `{iss, sub, jti, iat, exp}` — the simulator's format;
//! * `command`: an external checker prints a JSON object (`valid`, `expires`, `issued_to`,
//!   `id`, `reason`); see [`run_checker`].
//!
//! The license content itself never leaves this module (not in results, errors or output).

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls::pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};

/// How `license.key` is read beyond the checks for every format.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// Nothing format-specific (the default): expiry and issued-to are unknown.
    Opaque,
    /// An ES256-signed JWT (the simulator's format).
    JwtEs256,
    /// An external checker: argv (`{public_pem}`, `{license_key}` replaced) and a time limit.
    Command { argv: Vec<String>, timeout: Duration },
}

impl Format {
    pub fn name(&self) -> &'static str {
        match self {
            Format::Opaque => "opaque",
            Format::JwtEs256 => "jwt-es256",
            Format::Command { .. } => "command",
        }
    }

    /// The format `[license]` in vscript.toml chooses.
    pub fn from_config(c: &crate::config::LicenseConfig) -> Format {
        match c.format() {
            "jwt-es256" => Format::JwtEs256,
            "command" => Format::Command {
                argv: c.check_command.clone().unwrap_or_default(),
                timeout: Duration::from_secs(c.check_timeout.unwrap_or(60).max(1)),
            },
            _ => Format::Opaque,
        }
    }
}

/// Why a license file cannot be used. Never contains the license or key content.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LicenseError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("`{path}` is empty")]
    Empty { path: String },
    #[error("`{path}` is not a PEM public key: {reason}")]
    NotPublicKey { path: String, reason: String },
    #[error("`{path}` is not a license: {reason}")]
    NotALicense { path: String, reason: String },
    #[error("`{path}` is identical to the installed `{installed}`: this license is already installed")]
    Identical { path: String, installed: String },
    #[error("`{path}` is identical to `{other}`: the license and the public key are the same file")]
    SameAs { path: String, other: String },
    #[error("`{path}` is not a readable {format} license: {reason}")]
    BadToken { path: String, format: String, reason: String },
    #[error("license `{path}` is not signed by `{public}`: the signature does not verify (wrong public.pem, or the file was altered)")]
    BadSignature { path: String, public: String },
    #[error("license `{path}`{} expired on {expires}", issued_to.as_ref().map(|s| format!(" (issued to `{s}`)")).unwrap_or_default())]
    Expired {
        path: String,
        issued_to: Option<String>,
        expires: String,
    },
    #[error("the license checker refused `{path}`: {reason}")]
    Refused { path: String, reason: String },
    #[error("the license checker ([license] check_command) failed for `{path}`: {reason}")]
    Checker { path: String, reason: String },
}

/// What a license says, as far as its format tells (no token, no key material).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct LicenseInfo {
    /// `opaque`, `jwt-es256` or `command`.
    pub format: String,
    /// Whether the format-specific verification passed (`false` for `opaque`: not done).
    pub verified: bool,
    pub expires: Option<String>,
    pub days_left: Option<i64>,
    pub issued_to: Option<String>,
    pub id: Option<String>,
    pub issuer: Option<String>,
    pub issued_at: Option<String>,
    /// `jwt-es256` only.
    pub signature_valid: Option<bool>,
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

fn read(path: &Path) -> Result<Vec<u8>, LicenseError> {
    let data = std::fs::read(path).map_err(|e| LicenseError::Read {
        path: shown(path),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".into(),
            std::io::ErrorKind::PermissionDenied => "permission denied".into(),
            std::io::ErrorKind::IsADirectory => "is a directory".into(),
            _ => e.kind().to_string(),
        },
    })?;
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(LicenseError::Empty { path: shown(path) });
    }
    Ok(data)
}

/// The labels of the PEM blocks in `data` (`PRIVATE KEY`, `CERTIFICATE`, …).
fn pem_labels(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----").map(str::to_owned))
        .collect()
}

/// The DER body of the first PEM block labelled exactly `label`.
fn pem_block(data: &[u8], label: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// Whether `der` is exactly one complete DER value (not trailing garbage, not a prefix).
fn complete_der(der: &[u8]) -> bool {
    matches!(x509_parser::der_parser::parse_der(der), Ok((rest, _)) if rest.is_empty())
}

/// What a DER blob is, when it is a key or a certificate.
fn der_kind(der: &[u8]) -> Option<&'static str> {
    use x509_parser::prelude::FromDer;
    if !complete_der(der) {
        return None;
    }
    if x509_parser::parse_x509_certificate(der).is_ok_and(|(rest, _)| rest.is_empty()) {
        return Some("a DER certificate");
    }
    if rustls::pki_types::PrivateKeyDer::try_from(der).is_ok() {
        return Some("a DER private key");
    }
    if x509_parser::x509::SubjectPublicKeyInfo::from_der(der).is_ok_and(|(rest, _)| rest.is_empty()) {
        return Some("a DER public key");
    }
    None
}

/// Base64 text (no PEM armour) decoded, when the whole file is base64.
fn base64_body(data: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data).ok()?;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 32
        || !compact
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return None;
    }
    STANDARD.decode(compact).ok()
}

/// Checks `public.pem`: readable, not empty, a PEM public key (`PUBLIC KEY` or
/// `RSA PUBLIC KEY`), and no private key in it.
pub fn check_public_pem(path: &Path) -> Result<Vec<u8>, LicenseError> {
    let data = read(path)?;
    let bad = |reason: String| LicenseError::NotPublicKey { path: shown(path), reason };
    let labels = pem_labels(&data);
    if let Some(l) = labels.iter().find(|l| l.ends_with("PRIVATE KEY")) {
        return Err(bad(format!(
            "it holds a private key (`-----BEGIN {l}-----`); public.pem must hold only the public key"
        )));
    }
    if labels.iter().any(|l| l == "PUBLIC KEY") {
        let der = rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_slice(&data)
            .map_err(|_| bad("the `PUBLIC KEY` block is not valid base64 PEM".into()))?;
        use x509_parser::prelude::FromDer;
        return match x509_parser::x509::SubjectPublicKeyInfo::from_der(der.as_ref()) {
            Ok(([], _)) => Ok(data),
            _ => Err(bad("the `PUBLIC KEY` block is not a valid public key".into())),
        };
    }
    if labels.iter().any(|l| l == "RSA PUBLIC KEY") {
        use x509_parser::prelude::FromDer;
        return match pem_block(&data, "RSA PUBLIC KEY")
            .map(|d| x509_parser::public_key::RSAPublicKey::from_der(&d).is_ok_and(|(r, _)| r.is_empty()))
        {
            Some(true) => Ok(data),
            _ => Err(bad("the `RSA PUBLIC KEY` block is not a valid RSA public key".into())),
        };
    }
    if labels.iter().any(|l| l.contains("CERTIFICATE")) {
        return Err(bad("it is a certificate, not a public key".into()));
    }
    if std::str::from_utf8(&data).is_err() {
        return Err(bad("it is binary, not PEM text".into()));
    }
    Err(bad("no `-----BEGIN PUBLIC KEY-----` block".into()))
}

/// Checks `license.key`: readable, not empty, and not a private key, certificate or public
/// key in PEM, DER or base64 DER (a mixed-up file). Everything else may be a license.
pub fn check_license_key(path: &Path) -> Result<Vec<u8>, LicenseError> {
    let data = read(path)?;
    let bad = |reason: String| LicenseError::NotALicense { path: shown(path), reason };
    for l in pem_labels(&data) {
        if l.ends_with("PRIVATE KEY") {
            return Err(bad(format!("it is a private key (`-----BEGIN {l}-----`)")));
        }
        if l.contains("CERTIFICATE REQUEST") {
            return Err(bad(format!("it is a certificate signing request (`-----BEGIN {l}-----`)")));
        }
        if l.contains("CERTIFICATE") {
            return Err(bad(format!("it is a certificate (`-----BEGIN {l}-----`)")));
        }
        if l.ends_with("PUBLIC KEY") {
            return Err(bad(format!(
                "it is a public key (`-----BEGIN {l}-----`): are public.pem and license.key swapped?"
            )));
        }
    }
    if let Some(kind) = der_kind(&data) {
        return Err(bad(format!("it is {kind}")));
    }
    if let Some(kind) = base64_body(&data).as_deref().and_then(der_kind) {
        return Err(bad(format!("it is {kind} in base64")));
    }
    Ok(data)
}

/// The content with line endings and surrounding whitespace normalised, for comparisons.
fn normalised(data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data).replace("\r\n", "\n");
    text.trim().as_bytes().to_vec()
}

/// Whether two files hold the same license content (line endings aside).
pub fn same_content(a: &[u8], b: &[u8]) -> bool {
    normalised(a) == normalised(b)
}

// ---- jwt-es256 -----------------------------------------------------------------------

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// The uncompressed P-256 point of a `PUBLIC KEY` PEM.
pub fn read_p256_public_key(path: &Path, data: &[u8]) -> Result<Vec<u8>, LicenseError> {
    let bad = |reason: &str| LicenseError::BadToken {
        path: shown(path),
        format: "jwt-es256".into(),
        reason: reason.to_owned(),
    };
    let der = rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_slice(data).map_err(|_| bad("no `PUBLIC KEY` block in public.pem"))?;
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der.as_ref()).map_err(|_| bad("malformed public key"))?;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    if spki.algorithm.algorithm.to_id_string() != "1.2.840.10045.2.1" || curve.as_deref() != Some("1.2.840.10045.3.1.7") {
        return Err(bad("public.pem is not an ECDSA P-256 key"));
    }
    Ok(spki.subject_public_key.data.to_vec())
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(ts, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ts.to_string())
}

fn days_left(expires: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(expires).ok()?;
    Some((t.timestamp() - chrono::Utc::now().timestamp()).div_euclid(86_400))
}

/// Decodes and verifies a token against a P-256 public key point.
pub fn inspect_token(token: &str, public_key: &[u8], path: &str) -> Result<LicenseInfo, LicenseError> {
    let bad = |reason: &str| LicenseError::BadToken {
        path: path.to_owned(),
        format: "jwt-es256".into(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(bad("expected a signed token of three dot-separated parts"));
    }
    let header: Header = URL_SAFE_NO_PAD
        .decode(parts[0])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("malformed token header"))?;
    if header.alg != "ES256" {
        return Err(bad(&format!("signature algorithm `{}` (expected ES256)", header.alg)));
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("malformed token claims (needs at least `exp`)"))?;
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| bad("malformed signature"))?;
    let signed = &token[..parts[0].len() + 1 + parts[1].len()];
    let signature_valid = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(signed.as_bytes(), &signature)
        .is_ok();
    let expires = rfc3339(claims.exp);
    Ok(LicenseInfo {
        format: "jwt-es256".into(),
        verified: signature_valid,
        days_left: Some((claims.exp - chrono::Utc::now().timestamp()).div_euclid(86_400)),
        expires: Some(expires),
        issued_to: Some(claims.sub),
        id: Some(claims.jti),
        issuer: Some(claims.iss),
        issued_at: Some(rfc3339(claims.iat)),
        signature_valid: Some(signature_valid),
    })
}

// ---- command -------------------------------------------------------------------------

/// What an external checker prints: one JSON object (the whole stdout, or its last line).
#[derive(Debug, Default, Deserialize)]
struct CheckerOutput {
    valid: Option<bool>,
    expires: Option<String>,
    issued_to: Option<String>,
    id: Option<String>,
    reason: Option<String>,
}

/// An RFC 3339 time or a `YYYY-MM-DD` date as RFC 3339 UTC.
fn normalise_time(s: &str) -> Option<String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Runs the external checker: `argv` with `{public_pem}` and `{license_key}` replaced by the
/// paths (appended as two arguments when `argv` names neither), no shell, stdin closed,
/// killed after `timeout`. Exit 0 and `valid` not false = valid; otherwise refused with its
/// `reason` (or the last line of stderr). `expires` must be RFC 3339 or `YYYY-MM-DD`.
pub fn run_checker(argv: &[String], timeout: Duration, public_pem: &Path, license_key: &Path) -> Result<LicenseInfo, LicenseError> {
    let path = shown(license_key);
    let failed = |reason: String| LicenseError::Checker {
        path: path.clone(),
        reason,
    };
    let (pp, kp) = (shown(public_pem), shown(license_key));
    let mut args: Vec<String> = argv
        .iter()
        .map(|a| a.replace("{public_pem}", &pp).replace("{license_key}", &kp))
        .collect();
    if !argv.iter().any(|a| a.contains("{public_pem}") || a.contains("{license_key}")) {
        args.push(pp.clone());
        args.push(kp.clone());
    }
    let program = args.first().cloned().ok_or_else(|| failed("no program given".into()))?;
    let mut child = std::process::Command::new(&program)
        .args(&args[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run `{program}`: {}", e.kind())))?;
    // Read both pipes on threads so a chatty checker cannot block on a full pipe.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.take(1 << 20).read_to_end(&mut s);
        }
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.take(1 << 20).read_to_end(&mut s);
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "`{program}` did not finish within {}",
                    crate::engine::host::humantime(timeout)
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(failed(format!("waiting for `{program}`: {}", e.kind()))),
        }
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    let parsed: Option<CheckerOutput> = serde_json::from_str(stdout.trim()).ok().or_else(|| {
        stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str(l.trim()).ok())
    });
    let last_err = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let cut = |s: &str| s.chars().take(300).collect::<String>();
    if !status.success() || parsed.as_ref().is_some_and(|o| o.valid == Some(false)) {
        let reason = parsed
            .as_ref()
            .and_then(|o| o.reason.clone())
            .or_else(|| (!last_err.is_empty()).then(|| last_err.to_owned()))
            .unwrap_or_else(|| match status.code() {
                Some(c) => format!("`{program}` exited with status {c}"),
                None => format!("`{program}` was killed by a signal"),
            });
        return Err(LicenseError::Refused {
            path,
            reason: cut(&reason),
        });
    }
    let o = parsed.ok_or_else(|| failed(format!("`{program}` did not print a JSON object on stdout")))?;
    let expires = match &o.expires {
        Some(e) => Some(normalise_time(e).ok_or_else(|| failed(format!("its `expires` `{}` is not an RFC 3339 time or a date", cut(e))))?),
        None => None,
    };
    Ok(LicenseInfo {
        format: "command".into(),
        verified: true,
        days_left: expires.as_deref().and_then(days_left),
        expires,
        issued_to: o.issued_to.filter(|s| !s.is_empty()),
        id: o.id.filter(|s| !s.is_empty()),
        ..Default::default()
    })
}

// ---- the checks scripts call -----------------------------------------------------------

/// The checks for every format, then what `format` reads. Does not enforce validity
/// (see [`check`]); fails when a file fails the checks for every format, or when the
/// configured format cannot read it.
pub fn inspect(format: &Format, public_pem: &Path, license_key: &Path) -> Result<LicenseInfo, LicenseError> {
    let pub_data = check_public_pem(public_pem)?;
    let key_data = check_license_key(license_key)?;
    if same_content(&pub_data, &key_data) {
        return Err(LicenseError::SameAs {
            path: shown(license_key),
            other: shown(public_pem),
        });
    }
    match format {
        Format::Opaque => Ok(LicenseInfo {
            format: "opaque".into(),
            ..Default::default()
        }),
        Format::JwtEs256 => {
            let token = String::from_utf8(key_data).map_err(|_| LicenseError::BadToken {
                path: shown(license_key),
                format: "jwt-es256".into(),
                reason: "not text".into(),
            })?;
            let key = read_p256_public_key(public_pem, &pub_data)?;
            inspect_token(token.trim(), &key, &shown(license_key))
        }
        // A refused license is still inspected: not verified, nothing known.
        Format::Command { argv, timeout } => match run_checker(argv, *timeout, public_pem, license_key) {
            Err(LicenseError::Refused { .. }) => Ok(LicenseInfo {
                format: "command".into(),
                ..Default::default()
            }),
            other => other,
        },
    }
}

/// Fails when what the format verifies does not hold: the signature (jwt-es256), the
/// checker's verdict (command), or the expiry (any format that gives one).
pub fn check(format: &Format, public_pem: &Path, license_key: &Path) -> Result<LicenseInfo, LicenseError> {
    let info = match format {
        Format::Command { argv, timeout } => {
            check_public_pem(public_pem)?;
            check_license_key(license_key)?;
            run_checker(argv, *timeout, public_pem, license_key)?
        }
        _ => inspect(format, public_pem, license_key)?,
    };
    if info.signature_valid == Some(false) {
        return Err(LicenseError::BadSignature {
            path: shown(license_key),
            public: shown(public_pem),
        });
    }
    if info.days_left.is_some_and(|d| d < 0)
        && let Some(expires) = &info.expires
    {
        return Err(LicenseError::Expired {
            path: shown(license_key),
            issued_to: info.issued_to.clone(),
            expires: expires.clone(),
        });
    }
    Ok(info)
}

/// What a renewal's check found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Renewal {
    #[serde(flatten)]
    pub new: LicenseInfo,
    /// The installed license's expiry, when the format tells.
    pub current_expires: Option<String>,
    /// The installed license's issued-to, when the format tells.
    pub current_issued_to: Option<String>,
    /// Why the installed license could not be read in the configured format (not fatal).
    pub current_unreadable: Option<String>,
    /// Days the renewal adds (new expiry − current expiry), when both are known.
    pub gain_days: Option<i64>,
}

/// Every check of a renewal, before anything is installed: the new files pass [`check`],
/// the new `license.key` is not the installed one, and when both expiries are known the new
/// one is later. Fails listing every problem at once.
pub fn check_renewal(
    format: &Format,
    public_pem: &Path,
    license_key: &Path,
    current_pem: Option<&Path>,
    current_key: Option<&Path>,
) -> Result<Renewal, Vec<LicenseError>> {
    let mut problems = Vec::new();
    if let Err(e) = check_public_pem(public_pem) {
        problems.push(e);
    }
    let key_data = match check_license_key(license_key) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if let (Some(k), Some(ck)) = (&key_data, current_key)
        && let Ok(installed) = std::fs::read(ck)
        && same_content(k, &installed)
    {
        problems.push(LicenseError::Identical {
            path: shown(license_key),
            installed: shown(ck),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let new = check(format, public_pem, license_key).map_err(|e| vec![e])?;
    let (mut current_expires, mut current_issued_to, mut current_unreadable) = (None, None, None);
    if let (Some(cp), Some(ck)) = (current_pem, current_key)
        && cp.exists()
        && ck.exists()
        && *format != Format::Opaque
    {
        match inspect(format, cp, ck) {
            Ok(i) => (current_expires, current_issued_to) = (i.expires, i.issued_to),
            Err(e) => current_unreadable = Some(e.to_string()),
        }
    }
    let secs = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    };
    let gain = match (secs(&new.expires), secs(&current_expires)) {
        (Some(n), Some(c)) => Some((n - c).div_euclid(86_400)),
        _ => None,
    };
    if let (Some(n), Some(c)) = (secs(&new.expires), secs(&current_expires))
        && n <= c
    {
        return Err(vec![LicenseError::NotALicense {
            path: shown(license_key),
            reason: format!(
                "it expires {}, not later than the installed license ({})",
                new.expires.clone().unwrap_or_default(),
                current_expires.clone().unwrap_or_default()
            ),
        }]);
    }
    Ok(Renewal {
        new,
        current_expires,
        current_issued_to,
        current_unreadable,
        gain_days: gain,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    use super::*;

    /// A license authority: its `public.pem` and a way to sign license tokens.
    pub(crate) struct Authority {
        key: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Authority {
        pub(crate) fn new() -> Authority {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
            Authority { key, rng }
        }

        pub(crate) fn public_pem(&self) -> String {
            let mut spki = vec![
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ];
            spki.extend_from_slice(self.key.public_key().as_ref());
            let b64 = STANDARD.encode(&spki);
            let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
            format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
        }

        pub(crate) fn token(&self, sub: &str, iat: i64, exp: i64) -> String {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
            let claims =
                serde_json::json!({ "iss": "Vantiq", "sub": sub, "jti": "a1585c60-7578-11eb-8d98-acde48001122", "iat": iat, "exp": exp });
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            let signed = format!("{h}.{p}");
            let s = self.key.sign(&self.rng, signed.as_bytes()).unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(s.as_ref()))
        }
    }

    const RSA_SPKI: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDDB9HAyHda2IrlswDjPPr7S7VJ
aGOUGTDu2evW5KqwcFRXgSPG1rNU3zuEYpv+suy5YAahBiJLujYAdAR00ewfqat2
grgBz7ENS7C+UiEFcyb/Q8z1V/PO3UlBhQWE6M5Lit0wr3qMG+tAJTxjeHsLOPrp
ZqbFBMwBZGG42D69KwIDAQAB
-----END PUBLIC KEY-----
";
    const RSA_PKCS1: &str = "-----BEGIN RSA PUBLIC KEY-----
MIGJAoGBAMMH0cDId1rYiuWzAOM8+vtLtUloY5QZMO7Z69bkqrBwVFeBI8bWs1Tf
O4Rim/6y7LlgBqEGIku6NgB0BHTR7B+pq3aCuAHPsQ1LsL5SIQVzJv9DzPVX887d
SUGFBYTozkuK3TCveowb60AlPGN4ews4+ulmpsUEzAFkYbjYPr0rAgMBAAE=
-----END RSA PUBLIC KEY-----
";

    /// An opaque license blob: bytes no format vscript knows (fixed, so tests repeat).
    pub(crate) fn opaque_blob() -> Vec<u8> {
        let mut x: u32 = 0x9e37_79b9;
        let mut out = vec![0xA7u8];
        for _ in 0..700 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            out.push((x >> 24) as u8);
        }
        out
    }

    fn files(a: &Authority, token: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let pp = d.path().join("public.pem");
        let kp = d.path().join("license.key");
        std::fs::write(&pp, a.public_pem()).unwrap();
        std::fs::write(&kp, format!("{token}\n")).unwrap();
        (d, pp, kp)
    }

    fn year(y: i32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, 2, 24)
            .unwrap()
            .and_hms_opt(1, 44, 12)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn an_opaque_license_passes_the_checks_for_every_format_with_unknown_expiry() {
        let a = Authority::new();
        let (_d, pp, kp) = files(&a, "x");
        std::fs::write(&kp, opaque_blob()).unwrap();
        let i = check(&Format::Opaque, &pp, &kp).unwrap();
        assert_eq!(
            (i.format.as_str(), i.verified, i.expires, i.issued_to),
            ("opaque", false, None, None)
        );
        // base64 text that is no key either
        std::fs::write(&kp, STANDARD.encode(opaque_blob())).unwrap();
        check(&Format::Opaque, &pp, &kp).unwrap();
        // an RSA public.pem (any algorithm, SPKI or PKCS#1) is a PEM public key too
        for pem in [RSA_SPKI, RSA_PKCS1] {
            std::fs::write(&pp, pem).unwrap();
            check(&Format::Opaque, &pp, &kp).unwrap();
        }
        // the simulator's JWT is also fine as an opaque license
        let (_d2, pp2, kp2) = files(&a, &a.token("Vantiq JP", year(2025), year(2090)));
        assert_eq!(check(&Format::Opaque, &pp2, &kp2).unwrap().expires, None);
    }

    #[test]
    fn keys_certificates_and_empty_files_are_refused_naming_file_and_reason() {
        let a = Authority::new();
        let (_d, pp, kp) = files(&a, "x");
        let kp_s = kp.display().to_string();
        let ec = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["vantiq.example.com".into()])
            .unwrap()
            .self_signed(&ec)
            .unwrap();
        let cases: Vec<(Vec<u8>, String)> = vec![
            (b"".to_vec(), format!("`{kp_s}` is empty")),
            (b" \n\n".to_vec(), format!("`{kp_s}` is empty")),
            (
                ec.serialize_pem().into_bytes(),
                format!("`{kp_s}` is not a license: it is a private key (`-----BEGIN PRIVATE KEY-----`)"),
            ),
            (ec.serialize_der(), format!("`{kp_s}` is not a license: it is a DER private key")),
            (
                STANDARD.encode(ec.serialize_der()).into_bytes(),
                format!("`{kp_s}` is not a license: it is a DER private key in base64"),
            ),
            (
                cert.pem().into_bytes(),
                format!("`{kp_s}` is not a license: it is a certificate (`-----BEGIN CERTIFICATE-----`)"),
            ),
            (cert.der().to_vec(), format!("`{kp_s}` is not a license: it is a DER certificate")),
            (
                a.public_pem().into_bytes(),
                format!(
                    "`{kp_s}` is not a license: it is a public key (`-----BEGIN PUBLIC KEY-----`): are public.pem and license.key swapped?"
                ),
            ),
        ];
        for (content, want) in cases {
            std::fs::write(&kp, &content).unwrap();
            let e = check(&Format::Opaque, &pp, &kp).unwrap_err().to_string();
            assert_eq!(e, want);
        }
        // public.pem: not a public key
        std::fs::write(&kp, opaque_blob()).unwrap();
        let pp_s = pp.display().to_string();
        for (content, want) in [
            (
                "garbage".to_owned(),
                format!("`{pp_s}` is not a PEM public key: no `-----BEGIN PUBLIC KEY-----` block"),
            ),
            (
                cert.pem(),
                format!("`{pp_s}` is not a PEM public key: it is a certificate, not a public key"),
            ),
            (
                format!("{}{}", a.public_pem(), ec.serialize_pem()),
                format!(
                    "`{pp_s}` is not a PEM public key: it holds a private key (`-----BEGIN PRIVATE KEY-----`); public.pem must hold only the public key"
                ),
            ),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
                format!("`{pp_s}` is not a PEM public key: the `PUBLIC KEY` block is not a valid public key"),
            ),
        ] {
            std::fs::write(&pp, &content).unwrap();
            assert_eq!(check(&Format::Opaque, &pp, &kp).unwrap_err().to_string(), want);
        }
        std::fs::remove_file(&pp).unwrap();
        assert_eq!(
            check(&Format::Opaque, &pp, &kp).unwrap_err().to_string(),
            format!("cannot read `{pp_s}`: no such file")
        );
    }

    #[test]
    fn a_renewal_refuses_the_installed_license_and_lists_every_problem() {
        let a = Authority::new();
        let (d, pp, kp) = files(&a, "x");
        std::fs::write(&kp, opaque_blob()).unwrap();
        let cur_p = d.path().join("cur.pem");
        let cur_k = d.path().join("cur.key");
        std::fs::write(&cur_p, a.public_pem()).unwrap();
        // the installed license, with other line endings: still the same license
        let mut same = opaque_blob();
        same.extend_from_slice(b"\r\n");
        std::fs::write(&cur_k, &same).unwrap();
        let e = check_renewal(&Format::Opaque, &pp, &kp, Some(&cur_p), Some(&cur_k)).unwrap_err();
        assert_eq!(
            e,
            vec![LicenseError::Identical {
                path: kp.display().to_string(),
                installed: cur_k.display().to_string()
            }]
        );
        // both files bad: both named
        std::fs::write(&pp, "nope").unwrap();
        std::fs::write(&kp, "").unwrap();
        assert_eq!(
            check_renewal(&Format::Opaque, &pp, &kp, Some(&cur_p), Some(&cur_k))
                .unwrap_err()
                .len(),
            2
        );
        // a new opaque license: fine, expiry unknown, nothing compared
        std::fs::write(&pp, a.public_pem()).unwrap();
        std::fs::write(&kp, STANDARD.encode(opaque_blob())).unwrap();
        let r = check_renewal(&Format::Opaque, &pp, &kp, Some(&cur_p), Some(&cur_k)).unwrap();
        assert_eq!((r.new.expires, r.current_expires, r.gain_days), (None, None, None));
    }

    #[test]
    fn jwt_es256_verifies_signature_expiry_and_later_expiry() {
        let a = Authority::new();
        let f = Format::JwtEs256;
        let token = a.token("Vantiq JP", year(2025), year(2090));
        let (d, pp, kp) = files(&a, &token);
        let info = check(&f, &pp, &kp).unwrap();
        assert_eq!(info.issued_to.as_deref(), Some("Vantiq JP"));
        assert_eq!(info.id.as_deref(), Some("a1585c60-7578-11eb-8d98-acde48001122"));
        assert_eq!(info.expires.as_deref(), Some("2090-02-24T01:44:12Z"));
        assert!(info.verified && info.days_left.unwrap() > 10_000);
        let shown = serde_json::to_string(&info).unwrap();
        assert!(!token.split('.').any(|p| shown.contains(p)), "the token never appears in results");

        // tampered: extend the expiry without re-signing
        let parts: Vec<&str> = token.split('.').collect();
        let claims = serde_json::json!({ "iss": "Vantiq", "sub": "Vantiq JP", "jti": "x", "iat": year(2025), "exp": year(2099) });
        std::fs::write(
            &kp,
            format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]),
        )
        .unwrap();
        assert_eq!(inspect(&f, &pp, &kp).unwrap().signature_valid, Some(false));
        assert_eq!(
            check(&f, &pp, &kp).unwrap_err().to_string(),
            format!(
                "license `{}` is not signed by `{}`: the signature does not verify (wrong public.pem, or the file was altered)",
                kp.display(),
                pp.display()
            )
        );
        // expired
        std::fs::write(&kp, a.token("Vantiq JP", year(2020), year(2021))).unwrap();
        assert_eq!(
            check(&f, &pp, &kp).unwrap_err().to_string(),
            format!("license `{}` (issued to `Vantiq JP`) expired on 2021-02-24T01:44:12Z", kp.display())
        );
        // an opaque file is not readable in this format
        std::fs::write(&kp, opaque_blob()).unwrap();
        let e = check(&f, &pp, &kp).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("`{}` is not a readable jwt-es256 license", kp.display())),
            "{e}"
        );

        // a renewal must expire later than the installed license
        let cur_p = d.path().join("cur.pem");
        let cur_k = d.path().join("cur.key");
        std::fs::write(&cur_p, a.public_pem()).unwrap();
        std::fs::write(&cur_k, a.token("Vantiq JP", year(2025), year(2080))).unwrap();
        std::fs::write(&kp, a.token("Vantiq JP", year(2025), year(2070))).unwrap();
        let e = check_renewal(&f, &pp, &kp, Some(&cur_p), Some(&cur_k)).unwrap_err();
        assert!(
            e[0].to_string()
                .contains("not later than the installed license (2080-02-24T01:44:12Z)"),
            "{e:?}"
        );
        std::fs::write(&kp, a.token("Vantiq JP", year(2025), year(2090))).unwrap();
        let r = check_renewal(&f, &pp, &kp, Some(&cur_p), Some(&cur_k)).unwrap();
        assert_eq!(r.current_expires.as_deref(), Some("2080-02-24T01:44:12Z"));
        assert_eq!(r.gain_days, Some(3653));
    }

    fn checker(dir: &Path, body: &str) -> Vec<String> {
        let p = dir.join("checker.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        vec![
            p.display().to_string(),
            "--license".into(),
            "{license_key}".into(),
            "--key".into(),
            "{public_pem}".into(),
        ]
    }

    #[test]
    fn an_external_checker_gives_expiry_and_verdict() {
        let a = Authority::new();
        let (d, pp, kp) = files(&a, "x");
        std::fs::write(&kp, opaque_blob()).unwrap();
        let fmt = |argv| Format::Command {
            argv,
            timeout: Duration::from_secs(5),
        };
        // it gets the paths where asked
        let argv = checker(
            d.path(),
            r#"[ -f "$2" ] && [ -f "$4" ] || exit 9
echo '{"valid": true, "expires": "2031-04-01", "issued_to": "Acme Corp", "id": "L-42"}'"#,
        );
        let i = check(&fmt(argv), &pp, &kp).unwrap();
        assert_eq!(i.expires.as_deref(), Some("2031-04-01T00:00:00Z"));
        assert_eq!(
            (i.issued_to.as_deref(), i.id.as_deref(), i.verified),
            (Some("Acme Corp"), Some("L-42"), true)
        );
        // refused: its reason
        let argv = checker(
            d.path(),
            r#"echo 'checking…'; echo '{"valid": false, "reason": "signature mismatch"}'; exit 1"#,
        );
        assert_eq!(
            check(&fmt(argv), &pp, &kp).unwrap_err().to_string(),
            format!("the license checker refused `{}`: signature mismatch", kp.display())
        );
        let argv = checker(d.path(), "echo 'license revoked' >&2; exit 3");
        assert!(check(&fmt(argv), &pp, &kp).unwrap_err().to_string().ends_with(": license revoked"));
        // expired per its own answer
        let argv = checker(d.path(), r#"echo '{"expires": "2020-01-01T00:00:00Z"}'"#);
        assert!(
            check(&fmt(argv), &pp, &kp)
                .unwrap_err()
                .to_string()
                .contains("expired on 2020-01-01T00:00:00Z")
        );
        // broken checkers
        let argv = checker(d.path(), "echo not json");
        assert!(
            check(&fmt(argv), &pp, &kp)
                .unwrap_err()
                .to_string()
                .contains("did not print a JSON object")
        );
        let argv = checker(d.path(), r#"echo '{"expires": "soon"}'"#);
        assert!(
            check(&fmt(argv), &pp, &kp)
                .unwrap_err()
                .to_string()
                .contains("`expires` `soon` is not an RFC 3339 time")
        );
        let argv = checker(d.path(), "sleep 5");
        let f = Format::Command {
            argv,
            timeout: Duration::from_millis(300),
        };
        assert!(check(&f, &pp, &kp).unwrap_err().to_string().contains("did not finish within 300ms"));
        let f = fmt(vec![d.path().join("nope").display().to_string()]);
        assert!(check(&f, &pp, &kp).unwrap_err().to_string().contains("cannot run"));
        // the checks for every format still come first: no checker runs for a private key
        std::fs::write(&kp, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let argv = checker(d.path(), r#"touch "$(dirname "$0")/ran"; echo '{}'"#);
        assert!(check(&fmt(argv), &pp, &kp).unwrap_err().to_string().contains("is a private key"));
        assert!(!d.path().join("ran").exists(), "the checker did not run");
    }
}
