//! Kubernetes name and label syntax, as the API server validates it (apimachinery's
//! validation rules, reimplemented from their documentation): DNS-1123 subdomains and
//! labels, qualified label keys, label values.

/// Is `c` a lowercase letter or a digit?
fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Starts and ends with an allowed end character.
fn ends_ok(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().next().is_some_and(&ok) && s.chars().last().is_some_and(&ok)
}

/// A DNS-1123 subdomain: at most 253 characters of `a-z`, `0-9`, `-` and `.`, starting
/// and ending with a letter or digit (object names such as a pod's).
pub fn subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("must be 1 to 253 characters (it has {})", s.len()));
    }
    if !s.chars().all(|c| lower_alnum(c) || c == '-' || c == '.') || !ends_ok(s, lower_alnum) {
        return Err(
            "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (a DNS-1123 subdomain)"
                .into(),
        );
    }
    Ok(())
}

/// A DNS-1123 label: at most 63 characters of `a-z`, `0-9` and `-`, starting and ending
/// with a letter or digit (namespaces).
pub fn label_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("must be 1 to 63 characters (it has {})", s.len()));
    }
    if !s.chars().all(|c| lower_alnum(c) || c == '-') || !ends_ok(s, lower_alnum) {
        return Err(
            "must be lowercase letters, digits and '-', starting and ending with a letter or digit (a DNS-1123 label)"
                .into(),
        );
    }
    Ok(())
}

/// The name part of a label key, or a non-empty label value: at most 63 characters of
/// letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.
fn qualified_name_part(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err(format!(
            "must be at most 63 characters (it has {})",
            s.len()
        ));
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if !s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.')) || !ends_ok(s, alnum) {
        return Err(
            "must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// A label key: an optional DNS-1123 subdomain prefix and `/`, then a name part.
pub fn label_key(s: &str) -> Result<(), String> {
    let name = match s.split_once('/') {
        Some((prefix, name)) => {
            subdomain(prefix).map_err(|m| format!("its prefix {m}"))?;
            name
        }
        None => s,
    };
    if name.is_empty() {
        return Err("needs a name".into());
    }
    qualified_name_part(name)
}

/// A label value: empty, or a name part.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    qualified_name_part(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_name_and_label_rules() {
        assert!(subdomain("web-0.api").is_ok());
        for bad in ["", "Web", "web_0", "-web", "web-", "a\0b", &"a".repeat(254)] {
            assert!(subdomain(bad).is_err(), "{bad:?}");
        }
        assert!(label_name("kube-system").is_ok());
        assert!(label_name("a.b").is_err() && label_name(&"a".repeat(64)).is_err());
        assert!(label_key("app").is_ok() && label_key("karpenter.k8s.aws/instance-family").is_ok());
        assert!(label_key("app.kubernetes.io/Name_x").is_ok());
        for bad in ["", "/x", "Bad_Prefix/x", "x/", "a b", &"k".repeat(64)] {
            assert!(label_key(bad).is_err(), "{bad:?}");
        }
        assert!(label_value("").is_ok() && label_value("v1.2_x-Y").is_ok());
        assert!(label_value(&"v".repeat(64)).is_err() && label_value("a b").is_err());
        assert!(label_value(&"v".repeat(100_000)).is_err());
    }
}
