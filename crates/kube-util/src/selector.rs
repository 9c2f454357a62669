//! Label selectors from `matchLabels`, in the `a=b,c=d` form that `?labelSelector=` and
//! a Scale's `status.selector` take.

use serde_json::Value;

/// `a=b,c=d` from a `matchLabels` map, in the map's order; a value that is not a string
/// counts as empty. Empty when there are no labels or `match_labels` is not a map.
pub fn match_labels_selector(match_labels: &Value) -> String {
    match match_labels.as_object() {
        Some(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn match_labels_become_a_selector() {
        assert_eq!(match_labels_selector(&json!({"app": "vantiq"})), "app=vantiq");
        assert_eq!(
            match_labels_selector(&json!({"app": "vantiq", "app.kubernetes.io/instance": "acme"})),
            "app=vantiq,app.kubernetes.io/instance=acme"
        );
        assert_eq!(match_labels_selector(&json!({"tier": 3})), "tier=");
    }

    #[test]
    fn no_labels_give_an_empty_selector() {
        assert_eq!(match_labels_selector(&json!({})), "");
        assert_eq!(match_labels_selector(&Value::Null), "");
        assert_eq!(match_labels_selector(&json!(["app=vantiq"])), "");
    }
}
