//! Lenient reading of vendor JSON: fields drift between versions and accounts (numbers
//! as strings, strings as numbers, `null`, missing, nested JSON in a string), so the
//! connectors read `serde_json::Value`s through these helpers instead of strict structs.

use serde_json::Value;

/// The value at `path` (object keys), if every step exists and is not `null`.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    (!current.is_null()).then_some(current)
}

/// The first of `keys` present on `value` (not `null`).
pub fn first<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| at(value, &[k]))
}

/// A string, or a number written as one; empty strings are absent.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-negative count from a number or a numeric string (`"361324"`, `85`, `85.0`).
pub fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < 9.0e18)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0 && *f < 9.0e18)
                    .map(|f| f as u64)
            })
        }
        _ => None,
    }
}

/// A finite float from a number or a numeric string.
pub fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A JSON object that may arrive as an object or as a string holding JSON
/// (Mentionlytics' `profile_meta`); anything else is absent.
pub fn embedded_object(value: &Value) -> Option<Value> {
    match value {
        Value::Object(_) => Some(value.clone()),
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_accept_drift() {
        assert_eq!(count(&json!("361324")), Some(361_324));
        assert_eq!(count(&json!(85)), Some(85));
        assert_eq!(count(&json!(85.0)), Some(85));
        assert_eq!(count(&json!("12.0")), Some(12));
        assert_eq!(count(&json!(null)), None);
        assert_eq!(count(&json!(-1)), None);
        assert_eq!(count(&json!("n/a")), None);
    }

    #[test]
    fn embedded_objects_from_strings() {
        let v = json!("{\"location\":\"Clare, Ireland\"}");
        assert_eq!(
            embedded_object(&v).and_then(|o| o.get("location").cloned()),
            Some(json!("Clare, Ireland"))
        );
        assert_eq!(embedded_object(&json!("not json")), None);
        assert_eq!(embedded_object(&json!("[1]")), None);
    }
}
