//! The words of the customer report (`--report FILE.md`) in English and Japanese: the
//! shipped procedures' step titles and report facts (the scripts keep their English
//! titles: they are the keys `--resume` matches on), the values scripts report (times in
//! the operator's time zone, statuses, the login and license checks), and every change
//! as a sentence.
//!
//! A test fails when a shipped script has a step title or a report fact this table does
//! not translate. A customer's own script falls back to its English words.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

use super::report::{Lang, Zone};

/// Every step title of the shipped procedures: (English, Japanese).
pub const STEP_TITLES: &[(&str, &str)] = &[
    (
        "0. Check the installation and the target version",
        "0. インストール環境と更新先バージョンの確認",
    ),
    ("0. Check the new certificate and key", "0. 新しい証明書と秘密鍵の確認"),
    ("0. Check the new license files", "0. 新しいライセンスファイルの確認"),
    ("0. Check the volume can be expanded", "0. ボリュームを拡張できることの確認"),
    ("0. Check what is restored", "0. 復元する内容の確認"),
    ("0. Find the backups to restore", "0. 復元するバックアップの特定"),
    ("1. Announce the downtime to the customer", "1. お客様へのダウンタイムの連絡"),
    ("1. Back up MongoDB", "1. MongoDB のバックアップ"),
    (
        "1. Expand the PVC and wait for the new capacity",
        "1. PVC の拡張と新しい容量の反映待ち",
    ),
    (
        "1. Install the new files, keeping dated backups",
        "1. 新しいファイルの配置（日付付きバックアップを保存）",
    ),
    ("1. Is a service principal in use?", "1. サービスプリンシパルの使用有無"),
    ("1. License", "1. ライセンス"),
    (
        "1. Put the backed-up certificate and key back",
        "1. バックアップした証明書と秘密鍵の復元",
    ),
    (
        "1. Put the backed-up license files back",
        "1. バックアップしたライセンスファイルの復元",
    ),
    ("1. Read the server version", "1. サーバーバージョンの取得"),
    (
        "1. Restore vantiq.image.tag in deploy.yaml",
        "1. deploy.yaml の vantiq.image.tag の復元",
    ),
    ("1. Stop Vantiq", "1. Vantiq の停止"),
    ("1. Update k8sdeploy_tools (git pull)", "1. k8sdeploy_tools の更新（git pull）"),
    (
        "10. Verify vantiq-0 is ready and the IDE login works (downtime ends)",
        "10. vantiq-0 の起動と IDE ログインの確認（ダウンタイム終了）",
    ),
    (
        "11. Scale back to the replica counts found before",
        "11. 作業前のレプリカ数への復帰",
    ),
    ("12. Report the upgrade", "12. バージョンアップ結果の報告"),
    ("2. Check its expiry", "2. 有効期限の確認"),
    ("2. Check pods, StatefulSets and PVCs", "2. Pod・StatefulSet・PVC の確認"),
    ("2. Delete the InfluxDB StatefulSet", "2. InfluxDB の StatefulSet の削除"),
    ("2. Deploy (deployVantiq)", "2. デプロイ（deployVantiq）"),
    (
        "2. Regenerate the secrets (generateSecrets)",
        "2. シークレットの再生成（generateSecrets）",
    ),
    ("2. Restore MongoDB from the backup", "2. バックアップからの MongoDB の復元"),
    ("2. SSL certificate", "2. SSL 証明書"),
    (
        "2. Set vantiq.image.tag in deploy.yaml",
        "2. deploy.yaml の vantiq.image.tag の設定",
    ),
    ("2. Update k8sdeploy_tools (git pull)", "2. k8sdeploy_tools の更新（git pull）"),
    (
        "3. Compare with the check before the upgrade",
        "3. バージョンアップ前の確認結果との比較",
    ),
    ("3. Deploy (deployVantiq)", "3. デプロイ（deployVantiq）"),
    ("3. Manual renewal procedure", "3. 手動での更新手順"),
    (
        "3. Restore vantiq.image.tag in deploy.yaml",
        "3. deploy.yaml の vantiq.image.tag の復元",
    ),
    (
        "3. Set influxdb.persistence.size in deploy.yaml and redeploy (deployShared)",
        "3. deploy.yaml の influxdb.persistence.size の設定と再デプロイ（deployShared）",
    ),
    (
        "3. Set vantiq.image.tag in deploy.yaml",
        "3. deploy.yaml の vantiq.image.tag の設定",
    ),
    (
        "3. Set vantiq_system_release in cluster.properties",
        "3. cluster.properties の vantiq_system_release の設定",
    ),
    (
        "3. Update vantiq-ssl-cert (deployVantiq)",
        "3. vantiq-ssl-cert の更新（deployVantiq）",
    ),
    ("3. Versions and replicas", "3. バージョンとレプリカ数"),
    (
        "3. Wait for the rolling update and verify the IDE login",
        "3. ローリングアップデートの完了待ちと IDE ログインの確認",
    ),
    (
        "4. Apply cluster.properties (setupCluster)",
        "4. cluster.properties の反映（setupCluster）",
    ),
    (
        "4. Deploy the previous version (deployVantiq)",
        "4. 以前のバージョンのデプロイ（deployVantiq）",
    ),
    ("4. InfluxDB volume", "4. InfluxDB のボリューム"),
    ("4. Report the rollback", "4. ロールバック結果の報告"),
    ("4. Report", "4. 報告"),
    (
        "4. Restart Vantiq to load the license",
        "4. ライセンス読み込みのための Vantiq の再起動",
    ),
    (
        "4. Restart Vantiq to load the new license",
        "4. 新しいライセンス読み込みのための Vantiq の再起動",
    ),
    (
        "4. Set vantiq_system_release in cluster.properties",
        "4. cluster.properties の vantiq_system_release の設定",
    ),
    (
        "4. Update shared/default-ssl-cert (deployNginx)",
        "4. shared/default-ssl-cert の更新（deployNginx）",
    ),
    (
        "4. Verify InfluxDB is back with the new volume",
        "4. 新しいボリュームでの InfluxDB の復旧確認",
    ),
    ("4b. Service principal", "4b. サービスプリンシパル"),
    (
        "5. Apply cluster.properties (setupCluster)",
        "5. cluster.properties の反映（setupCluster）",
    ),
    ("5. Deploy (deployVantiq)", "5. デプロイ（deployVantiq）"),
    ("5. Report", "5. 報告"),
    ("5. Scale back", "5. レプリカ数の復帰"),
    ("5. Verify and report", "5. 確認と報告"),
    (
        "5. Verify the served certificate changed",
        "5. 提供される証明書が変わったことの確認",
    ),
    ("5. Verify the served certificate", "5. 提供される証明書の確認"),
    ("6. Report the rollback", "6. ロールバック結果の報告"),
    ("6. Stop Vantiq (downtime starts)", "6. Vantiq の停止（ダウンタイム開始）"),
    (
        "6. Wait for the rolling update and verify the IDE login",
        "6. ローリングアップデートの完了待ちと IDE ログインの確認",
    ),
    ("7. Back up MongoDB", "7. MongoDB のバックアップ"),
    ("7. Report the upgrade", "7. バージョンアップ結果の報告"),
    (
        "8. Deploy the new version and hold Vantiq at one pod",
        "8. 新バージョンのデプロイと Vantiq の 1 Pod での保持",
    ),
    ("9. Follow the schema migration (load-model)", "9. スキーマ移行（load-model）の監視"),
];

/// The names of the facts the shipped procedures report (`vantiq::report`), and of the
/// About fields: (English, Japanese).
pub const FACT_NAMES: &[(&str, &str)] = &[
    ("backup job", "バックアップジョブ"),
    ("backups", "バックアップ"),
    ("capacity now", "現在の容量"),
    ("days_left", "残り日数"),
    ("downtime", "ダウンタイム"),
    ("due", "対応が必要な項目"),
    ("expiration after", "作業後の有効期限"),
    ("expiration before", "作業前の有効期限"),
    ("expires", "有効期限"),
    ("expiry", "有効期限"),
    ("finished", "完了時刻"),
    ("host", "ホスト"),
    ("issued to", "発行先"),
    ("job", "ジョブ"),
    ("license", "ライセンス"),
    ("license expiration", "ライセンス有効期限"),
    ("license verified by", "ライセンスの確認方法"),
    ("login check", "ログイン確認"),
    ("problems", "問題"),
    ("provider", "プロバイダー"),
    ("pvc", "PVC"),
    ("replicas", "レプリカ数"),
    ("restored", "復元したファイル"),
    ("restored from", "復元元"),
    ("server", "サーバー"),
    ("service_principal", "サービスプリンシパル"),
    ("sha256", "SHA-256"),
    ("size before", "作業前のサイズ"),
    ("ssl", "SSL 証明書"),
    ("status", "状態"),
    ("vantiq_system_release", "vantiq_system_release"),
    ("version", "バージョン"),
    ("version after", "作業後のバージョン"),
    ("version after rollback", "ロールバック後のバージョン"),
    ("version before", "作業前のバージョン"),
    ("version before rollback", "ロールバック前のバージョン"),
];

/// A step title in the report's language (a title not in the table stays as it is).
pub fn step_title(title: &str, lang: Lang) -> String {
    match lang {
        Lang::En => title.to_owned(),
        Lang::Ja => STEP_TITLES
            .iter()
            .find(|(en, _)| *en == title)
            .map(|(_, ja)| (*ja).to_owned())
            .unwrap_or_else(|| title.to_owned()),
    }
}

/// A fact's name in the report's language.
pub fn fact_name(name: &str, lang: Lang) -> String {
    match lang {
        Lang::En => name.to_owned(),
        Lang::Ja => FACT_NAMES
            .iter()
            .find(|(en, _)| *en == name)
            .map(|(_, ja)| (*ja).to_owned())
            .unwrap_or_else(|| name.to_owned()),
    }
}

static TIME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)").expect("regex"));

/// Every RFC 3339 time in a text, in the zone (`2026-11-25 19:00:00 JST`).
pub fn times_in(text: &str, zone: &Zone) -> String {
    TIME.replace_all(text, |c: &Captures| {
        chrono::DateTime::parse_from_rfc3339(&c[0])
            .map(|t| zone.format(t.with_timezone(&chrono::Utc)))
            .unwrap_or_else(|_| c[0].to_owned())
    })
    .into_owned()
}

/// Whole values and patterns of values the shipped procedures report, in Japanese.
static VALUES_JA: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"^ok$", "正常"),
        (r"^DUE$", "要対応"),
        (r"^EXPIRED$", "期限切れ"),
        (r"^UNTRUSTED$", "信頼されていない"),
        (r"^unknown$", "不明"),
        (r"^expiry unknown$", "有効期限不明"),
        (r"^not checked$", "確認していません"),
        (r"^nothing$", "なし"),
        (r"^none$", "なし"),
        (r"^true$", "はい"),
        (r"^false$", "いいえ"),
        (r"^not configured$", "設定されていません"),
        (r"^IDE login verified \(as (.+) at (.+)\)$", "IDE ログイン確認済み（ユーザー $1、$2）"),
        (r"^IDE login verified \(with the access token at (.+)\)$", "IDE ログイン確認済み（アクセストークン、$1）"),
        (r"^IDE login not verified \((.+)\)$", "IDE ログイン未確認（$1）"),
        (r"^operator confirmed \(IDE About dialog\)$", "作業者が IDE の About ダイアログで確認"),
        (r"^not verified \(dry run\)$", "未確認（ドライラン）"),
        (r"^the installation \(GET (.+)\)$", "インストール環境に問い合わせ（GET $1）"),
        (r"^license files \((.+)\)$", "ライセンスファイル（$1）"),
        (r"^endpoint GET (.+)$", "エンドポイント GET $1"),
        (r"^image of StatefulSet (.+)$", "StatefulSet $1 のイメージ"),
        (r"^(.+) \((-?\d+) days, (\w+)\)$", "$1（残り $2 日、{status:$3}）"),
        (
            r"^license expires (.+) \((-?\d+) days; renew (\d+) days ahead\)$",
            "ライセンスの有効期限 $1（残り $2 日。$3 日前までに更新）",
        ),
        (
            r"^SSL certificate expires (.+) \((-?\d+) days; renew (\d+) days ahead\)$",
            "SSL 証明書の有効期限 $1（残り $2 日。$3 日前までに更新）",
        ),
        (
            r"^service principal expires (.+) \((-?\d+) days; renew (\d+) days ahead\)$",
            "サービスプリンシパルの有効期限 $1（残り $2 日。$3 日前までに更新）",
        ),
        (
            r"^the served SSL certificate is not trusted \((.+)\): clients fail with UnknownIssuer; renew it with a chain to a trusted root$",
            "提供中の SSL 証明書が信頼されていません（$1）。クライアントは UnknownIssuer で失敗します。信頼されたルート証明書に連なるチェーンで更新してください",
        ),
        (r"^(\S+) - (\S+)$", "$1 〜 $2"),
    ]
    .into_iter()
    .map(|(re, to)| (Regex::new(re).expect("regex"), to))
    .collect()
});

/// A reported value (one string) in the report's language, its times in the zone.
pub fn value(text: &str, lang: Lang, zone: &Zone) -> String {
    let t = text.trim();
    let out = match lang {
        Lang::En => t.to_owned(),
        Lang::Ja => VALUES_JA
            .iter()
            .find_map(|(re, to)| {
                re.captures(t).map(|c| {
                    let mut s = String::new();
                    c.expand(to, &mut s);
                    // `{status:DUE}`: a status word inside a pattern.
                    match (s.find("{status:"), s.find('}')) {
                        (Some(a), Some(b)) if b > a => {
                            let word = s[a + 8..b].to_owned();
                            s.replace_range(a..=b, &value(&word, Lang::Ja, zone));
                            s
                        }
                        _ => s,
                    }
                })
            })
            .unwrap_or_else(|| t.to_owned()),
    };
    times_in(&out, zone)
}

/// A reported value of any shape: strings through [`value`], lists joined with `; `,
/// maps as `key: value, …`, `()` as "—".
pub fn show(v: &Value, lang: Lang, zone: &Zone) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => value(s, lang, zone),
        Value::Bool(b) => value(&b.to_string(), lang, zone),
        Value::Number(n) => n.to_string(),
        Value::Array(a) if a.is_empty() => value("none", lang, zone),
        Value::Array(a) => a.iter().map(|x| show(x, lang, zone)).collect::<Vec<_>>().join("; "),
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| format!("{}: {}", fact_name(k, lang), show(x, lang, zone)))
            .collect::<Vec<_>>()
            .join(if lang == Lang::Ja { "、" } else { ", " }),
    }
}

/// A change as a sentence: what was done (or, in a dry run, what would be done).
pub fn effect(e: &Value, lang: Lang) -> String {
    let action = e["action"].as_str().unwrap_or("");
    let target = e["target"].as_str().unwrap_or("");
    let before = &e["before"];
    let after = &e["after"];
    let result = e["result"].as_str().unwrap_or("");
    let planned = result == "dry-run";
    let s = |v: &Value| -> String {
        match v {
            Value::Null => "?".into(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    // (English, past tense) / (English, base form) / (Japanese, stem before the verb ending).
    let (past, base, ja): (String, String, String) = match action {
        "k8s.scale" => {
            let from_en = if before.is_null() {
                String::new()
            } else {
                format!(" from {}", s(before))
            };
            let from_ja = if before.is_null() {
                String::new()
            } else {
                format!(" {} から", s(before))
            };
            (
                format!("Scaled {target}{from_en} to {} replica(s)", s(after)),
                format!("scale {target}{from_en} to {} replica(s)", s(after)),
                format!("{target} のレプリカ数を{from_ja} {} に変更", s(after)),
            )
        }
        "k8s.rollout_restart" => (
            format!("Restarted the pods of {target} one by one (rollout restart)"),
            format!("restart the pods of {target} one by one (rollout restart)"),
            format!("{target} の Pod を順に再起動（rollout restart）"),
        ),
        "k8s.create_job" => {
            let from = s(after).trim_start_matches("from ").replace("CronJob/", "CronJob ");
            (
                format!("Created {target} from {from}"),
                format!("create {target} from {from}"),
                format!("{from} から {target} を作成"),
            )
        }
        "k8s.patch" => (
            format!("Patched {target}"),
            format!("patch {target}"),
            format!("{target} を変更（パッチ適用）"),
        ),
        "k8s.delete" => {
            let how = after.as_str().map(|p| format!(" ({p})")).unwrap_or_default();
            (
                format!("Deleted {target}{how}"),
                format!("delete {target}{how}"),
                format!("{target} を削除{how}"),
            )
        }
        "k8s.pvc_resize" => (
            format!("Resized {target} from {} to {}", s(before), s(after)),
            format!("resize {target} from {} to {}", s(before), s(after)),
            format!("{target} の容量を {} から {} に拡張", s(before), s(after)),
        ),
        "file.write" => {
            let bytes = after["bytes"].as_u64().map(|b| b.to_string()).unwrap_or_else(|| "?".into());
            (
                format!("Wrote {target} ({bytes} bytes)"),
                format!("write {target} ({bytes} bytes)"),
                format!("{target} を書き込み（{bytes} バイト）"),
            )
        }
        "file.copy" => {
            let from = s(&before["from"]);
            (
                format!("Copied {from} to {target}"),
                format!("copy {from} to {target}"),
                format!("{from} を {target} にコピー"),
            )
        }
        "file.backup" => (
            format!("Backed up {target} as {}", s(after)),
            format!("back up {target} as {}", s(after)),
            format!("{target} を {} としてバックアップ", s(after)),
        ),
        "file.replace" => {
            let from = s(&before["from"]);
            match after["backup"].as_str() {
                Some(b) => (
                    format!("Replaced {target} with {from}, keeping the old file as {b}"),
                    format!("replace {target} with {from}, keeping the old file as {b}"),
                    format!("{target} を {from} で置き換え（元のファイルは {b} として保存）"),
                ),
                None => (
                    format!("Installed {from} as {target}"),
                    format!("install {from} as {target}"),
                    format!("{from} を {target} として配置"),
                ),
            }
        }
        "file.restore" => {
            let from = s(&before["backup"]);
            let kept_en = after["kept"]
                .as_str()
                .map(|k| format!(", keeping the replaced file as {k}"))
                .unwrap_or_default();
            let kept_ja = after["kept"]
                .as_str()
                .map(|k| format!("（置き換えたファイルは {k} として保存）"))
                .unwrap_or_default();
            (
                format!("Restored {target} from {from}{kept_en}"),
                format!("restore {target} from {from}{kept_en}"),
                format!("{target} を {from} から復元{kept_ja}"),
            )
        }
        "yaml.set" | "props.set" => {
            let (file, key) = target.rsplit_once(':').unwrap_or((target, ""));
            let from_en = if before.is_null() {
                String::new()
            } else {
                format!(" from {}", s(before))
            };
            let from_ja = if before.is_null() {
                String::new()
            } else {
                format!(" {} から", s(before))
            };
            (
                format!("Set {key} in {file}{from_en} to {}", s(after)),
                format!("set {key} in {file}{from_en} to {}", s(after)),
                format!("{file} の {key} を{from_ja} {} に変更", s(after)),
            )
        }
        "gradle.run" => (format!("Ran `{target}`"), format!("run `{target}`"), format!("`{target}` を実行")),
        "git.pull" => {
            let was_en = before.as_str().map(|b| format!(" (it was at {b})")).unwrap_or_default();
            let was_ja = before.as_str().map(|b| format!("（更新前: {b}）")).unwrap_or_default();
            (
                format!("Updated the tools dir with `git pull`{was_en}"),
                format!("update the tools dir with `git pull`{was_en}"),
                format!("`git pull` で k8sdeploy_tools を更新{was_ja}"),
            )
        }
        a if a.starts_with("http.") => {
            let method = a.trim_start_matches("http.").to_uppercase();
            (
                format!("Sent {method} {target}"),
                format!("send {method} {target}"),
                format!("{target} に {method} リクエストを送信"),
            )
        }
        other => (
            format!("{other} {target}"),
            format!("{other} {target}"),
            format!("{target} に {other} を実行"),
        ),
    };
    let failed = result.strip_prefix("failed: ").or_else(|| result.strip_prefix("failed"));
    match (lang, planned, failed) {
        (Lang::En, true, _) => format!("Would {base}."),
        (Lang::En, false, Some(why)) => format!("{past} — FAILED: {}.", why.trim()),
        (Lang::En, false, None) => format!("{past}."),
        (Lang::Ja, true, _) => format!("{ja}する予定です（ドライランのため実施していません）。"),
        (Lang::Ja, false, Some(why)) => format!("{ja}しようとして失敗しました（{}）。", why.trim()),
        (Lang::Ja, false, None) => format!("{ja}しました。"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `step("…"` titles and `vantiq::report(…, #{ "…": … })` fact names of a script.
    fn literals(text: &str) -> (Vec<String>, Vec<String>) {
        let step = Regex::new(r#"step\(\s*"([^"]+)""#).unwrap();
        let titles = step.captures_iter(text).map(|c| c[1].to_owned()).collect();
        let report = Regex::new(r#"(?s)vantiq::report\([^#]*#\{(.*?)\}\);"#).unwrap();
        let key = Regex::new(r#""([^"]+)"\s*:"#).unwrap();
        let facts = report
            .captures_iter(text)
            .flat_map(|c| key.captures_iter(&c[1]).map(|k| k[1].to_owned()).collect::<Vec<_>>())
            .collect();
        (titles, facts)
    }

    #[test]
    fn every_shipped_step_title_and_report_fact_has_a_japanese_translation() {
        let mut missing = Vec::new();
        let mut titles_seen = 0;
        for (name, text) in crate::shipped::SCRIPTS {
            let (titles, facts) = literals(text);
            titles_seen += titles.len();
            for t in titles {
                if !STEP_TITLES.iter().any(|(en, _)| *en == t) {
                    missing.push(format!("scripts/{name}.rhai: step title \"{t}\""));
                }
            }
            for f in facts {
                if !FACT_NAMES.iter().any(|(en, _)| *en == f) {
                    missing.push(format!("scripts/{name}.rhai: report fact \"{f}\""));
                }
            }
        }
        assert!(titles_seen >= 60, "only {titles_seen} step titles found: is the pattern right?");
        assert!(
            missing.is_empty(),
            "add these to src/run/translate.rs (STEP_TITLES / FACT_NAMES):\n{}",
            missing.join("\n")
        );
        for (en, ja) in STEP_TITLES.iter().chain(FACT_NAMES) {
            assert!(!en.is_empty() && !ja.is_empty());
        }
    }

    #[test]
    fn values_are_translated_with_their_times_in_the_zone() {
        let jst = Zone::parse("Asia/Tokyo").unwrap();
        assert_eq!(
            value("2027-01-31T00:00:00Z (67 days, DUE)", Lang::Ja, &jst),
            "2027-01-31 09:00:00 JST（残り 67 日、要対応）"
        );
        assert_eq!(
            value("IDE login verified (as ops at https://vantiq.acme.example.com)", Lang::Ja, &jst),
            "IDE ログイン確認済み（ユーザー ops、https://vantiq.acme.example.com）"
        );
        assert_eq!(
            value("2026-11-25T10:00:00Z - 2026-11-25T10:05:00Z", Lang::Ja, &jst),
            "2026-11-25 19:00:00 JST 〜 2026-11-25 19:05:00 JST"
        );
        let utc = Zone::parse("UTC").unwrap();
        assert_eq!(value("expiry unknown", Lang::En, &utc), "expiry unknown");
        assert_eq!(
            show(&json!({"vantiq": 3, "metrics-collector": 1}), Lang::Ja, &jst),
            "metrics-collector: 1、vantiq: 3"
        );
        assert_eq!(show(&Value::Null, Lang::Ja, &jst), "—");
    }

    #[test]
    fn changes_read_as_sentences() {
        let scale = json!({"action": "k8s.scale", "target": "StatefulSet acme/vantiq", "before": 3, "after": 1, "result": "done"});
        assert_eq!(effect(&scale, Lang::En), "Scaled StatefulSet acme/vantiq from 3 to 1 replica(s).");
        assert_eq!(
            effect(&scale, Lang::Ja),
            "StatefulSet acme/vantiq のレプリカ数を 3 から 1 に変更しました。"
        );
        let mut plan = scale.clone();
        plan["result"] = json!("dry-run");
        assert_eq!(
            effect(&plan, Lang::En),
            "Would scale StatefulSet acme/vantiq from 3 to 1 replica(s)."
        );
        assert!(effect(&plan, Lang::Ja).ends_with("する予定です（ドライランのため実施していません）。"));
        let tag = json!({"action": "yaml.set", "target": "targetCluster/deploy.yaml:vantiq.image.tag", "before": "1.30.10", "after": "1.31.0", "result": "failed: disk full"});
        assert_eq!(
            effect(&tag, Lang::En),
            "Set vantiq.image.tag in targetCluster/deploy.yaml from 1.30.10 to 1.31.0 — FAILED: disk full."
        );
    }
}
