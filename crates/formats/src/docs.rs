//! Reading YAML or JSON text into documents, and documents into typed values with field
//! paths in errors and unknown fields reported.

use crate::error::{Ctx, FormatError, Warning};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One document of an input file with its context.
#[derive(Clone, Debug)]
pub struct Document {
    /// Where it came from (file and document index; path empty).
    pub ctx: Ctx,
    /// Its content.
    pub value: Value,
}

/// YAML limits of one file: room for a 100,000-pod `kubectl get pods -o yaml` list (about
/// 200 nodes a pod) or 100,000 manifests, while serde-saphyr's alias and anchor limits
/// keep refusing alias bombs.
pub const YAML_MAX_DOCUMENTS: usize = 200_000;
/// YAML nodes (sequences, maps and scalars) in one file.
pub const YAML_MAX_NODES: usize = 40_000_000;
/// Scalar text in one file, bytes.
pub const YAML_MAX_SCALAR_BYTES: usize = 1 << 30;

/// Split a file into documents: a JSON value, or a multi-document YAML stream. Empty
/// documents are skipped. `kind: List` objects (as `kubectl get -o json` prints) are
/// flattened into their items, each keeping the index of the document it came from and
/// the path `items[i]`.
pub fn load_documents(file: &str, text: &str) -> Result<Vec<Document>, FormatError> {
    let base = Ctx::file(file);
    let trimmed = text.trim_start();
    let values: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            let mut err = base.error(
                None,
                format!("invalid JSON: {}", plain_words(&e.to_string())),
            );
            err.path = format!("line {}, column {}", e.line(), e.column());
            err
        })?;
        match v {
            Value::Array(items) => items,
            v => vec![v],
        }
    } else {
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_documents: YAML_MAX_DOCUMENTS,
                max_nodes: YAML_MAX_NODES,
                max_events: 2 * YAML_MAX_NODES,
                max_total_scalar_bytes: YAML_MAX_SCALAR_BYTES,
            },
        };
        serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| {
            let m = e.to_string();
            let hint = if m.contains("budget") {
                format!(
                    " (one YAML file may hold at most {YAML_MAX_DOCUMENTS} documents, {YAML_MAX_NODES} YAML nodes and {} MiB of scalars, and anchors and aliases are limited against alias bombs; split the file, or give it as JSON, which has no such limits)",
                    YAML_MAX_SCALAR_BYTES >> 20
                )
            } else {
                String::new()
            };
            base.error(None, format!("invalid YAML: {}{hint}", plain_words(&m)))
        })?
    };
    let mut out = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        if v.is_null() {
            continue;
        }
        let ctx = base.doc(i);
        if v.get("kind").and_then(Value::as_str) == Some("List")
            || v.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && v.get("items").is_some_and(Value::is_array)
        {
            let items = match v.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => {
                    return Err(ctx
                        .field("items")
                        .error(None, "a List needs an items array"))
                }
            };
            for (j, item) in items.into_iter().enumerate() {
                out.push(Document {
                    ctx: Ctx {
                        path: format!("items[{j}]"),
                        ..ctx.clone()
                    },
                    value: item,
                });
            }
        } else {
            out.push(Document { ctx, value: v });
        }
    }
    Ok(out)
}

/// A parser's message in the words of the input's author rather than of the library that
/// produced it: Rust type names become the range they allow, and advice about the
/// parser's own options is replaced by what the input must do. The one place such
/// messages are translated.
pub fn plain_words(m: &str) -> String {
    const TYPES: [(&str, &str); 10] = [
        (
            "expected i32",
            "expected a whole number from -2147483648 to 2147483647",
        ),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        (
            "expected i64",
            "expected a whole number from -9223372036854775808 to 9223372036854775807",
        ),
        (
            "expected u64",
            "expected a whole number from 0 to 18446744073709551615",
        ),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected usize", "expected a whole number at least 0"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected struct ", "expected a mapping "),
    ];
    let mut out = m.replace(
        ", set DuplicateKeyPolicy in Options if acceptable",
        " (a key may appear only once in a mapping)",
    );
    for (from, to) in TYPES {
        // Whole words only: "expected u32" must not rewrite "expected u32x".
        let mut done = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(from) {
            let after = &rest[i + from.len()..];
            let boundary = from.ends_with(' ')
                || !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            done.push_str(&rest[..i]);
            done.push_str(if boundary { to } else { from });
            rest = after;
        }
        done.push_str(rest);
        out = done;
    }
    out
}

/// Look a value up by the path segments serde_path_to_error reports.
fn lookup<'a>(mut v: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    use serde_path_to_error::Segment;
    for seg in path.iter() {
        v = match seg {
            Segment::Seq { index } => v.get(*index)?,
            Segment::Map { key } => v.get(key.as_str())?,
            Segment::Enum { .. } | Segment::Unknown => return None,
        };
    }
    Some(v)
}

/// Deserialize a document (or part of one at `ctx`) into `T`. Errors name the field path
/// and value; fields `T` does not know are returned as warnings.
pub fn typed<T: DeserializeOwned>(
    ctx: &Ctx,
    value: &Value,
) -> Result<(T, Vec<Warning>), FormatError> {
    let mut unknown: Vec<String> = Vec::new();
    let result = {
        let mut cb = |p: serde_ignored::Path<'_>| unknown.push(p.to_string());
        let de = serde_ignored::Deserializer::new(value.clone(), &mut cb);
        serde_path_to_error::deserialize::<_, T>(de)
    };
    match result {
        Ok(t) => {
            let warnings = unknown
                .into_iter()
                .map(|p| {
                    let mut c = ctx.clone();
                    for part in p.split('.').filter(|s| !s.is_empty() && *s != "?") {
                        c = match part.parse::<usize>() {
                            Ok(i) => c.index(i),
                            Err(_) => c.field(part),
                        };
                    }
                    c.warning("unknown field, ignored")
                })
                .collect();
            Ok((t, warnings))
        }
        Err(e) => {
            let mut c = ctx.clone();
            let p = e.path().to_string();
            if p != "." {
                c = c.field(&p);
            }
            let mut err = c.error(None, plain_words(&e.inner().to_string()));
            err.value = lookup(value, e.path()).map(|v| crate::error::truncate(&v.to_string()));
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 22 item 15): messages leaked the libraries' words ("set
    /// DuplicateKeyPolicy in Options", "expected i32").
    #[test]
    fn library_words_are_translated() {
        let e = load_documents("d.yaml", "metadata: {name: a, name: b}\n").unwrap_err();
        assert!(!e.message.contains("DuplicateKeyPolicy"), "{e}");
        assert!(e.message.contains("a key may appear only once"), "{e}");
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            priority: i32,
        }
        let v: Value = serde_json::json!({"priority": 99_999_999_999u64});
        let e = typed::<P>(&Ctx::file("p.yaml"), &v).unwrap_err();
        assert!(!e.message.contains("i32"), "{e}");
        assert!(e.message.contains("from -2147483648 to 2147483647"), "{e}");
        assert_eq!(plain_words("expected u32x"), "expected u32x");
    }

    #[test]
    fn yaml_multi_document_and_lists() {
        let docs = load_documents(
            "x.yaml",
            "a: 1\n---\n---\nkind: List\nitems:\n- b: 2\n- c: 3\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].ctx.document, Some(0));
        assert_eq!(docs[2].ctx.path, "items[1]");
        assert_eq!(docs[2].value["c"], 3);
    }

    #[test]
    fn truncated_yaml_is_an_error_naming_the_file() {
        let e = load_documents("bad.yaml", "a: [1, 2\nb: {").unwrap_err();
        assert_eq!(e.file, "bad.yaml");
        assert!(e.message.contains("invalid YAML"), "{e}");
        let e = load_documents("bad.json", "{\"a\": ").unwrap_err();
        assert!(e.to_string().starts_with("bad.json: line 1"), "{e}");
    }

    #[test]
    fn typed_reports_path_value_and_unknown_fields() {
        #[derive(serde::Deserialize, Debug)]
        struct Inner {
            #[allow(dead_code)]
            n: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        struct Outer {
            #[allow(dead_code)]
            items: Vec<Inner>,
        }
        let v: Value = serde_json::json!({"items": [{"n": 1}, {"n": "two"}]});
        let e = typed::<Outer>(&Ctx::file("f").doc(0), &v).unwrap_err();
        assert_eq!(e.path, "items[1].n");
        assert_eq!(e.value.as_deref(), Some("\"two\""));
        let v: Value = serde_json::json!({"items": [{"n": 1, "extra": true}]});
        let (_, w) = typed::<Outer>(&Ctx::file("f").doc(0), &v).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].path, "items[0].extra");
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    /// Regression: more than 1,024 YAML documents or 250,000 YAML nodes (a 2,000-pod
    /// `kubectl` YAML list) failed with "budget breached: Nodes { nodes: 250001 }". Real
    /// cluster sizes now read; an alias bomb is still refused, saying which limit.
    #[test]
    fn large_yaml_reads_and_alias_bombs_are_refused_with_the_limit_named() {
        let pod = "kind: Pod\nmetadata:\n  name: p{i}\n  labels: {a: b, c: d, e: f}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: 100m, memory: 1Gi}, limits: {cpu: 100m, memory: 1Gi}}\n";
        let many: String = (0..3_000)
            .map(|i| format!("---\n{}", pod.replace("{i}", &i.to_string())))
            .collect();
        assert_eq!(load_documents("many.yaml", &many).unwrap().len(), 3_000);
        let items: String = (0..20_000)
            .map(|i| {
                format!(
                    "- kind: Pod\n  metadata: {{name: p{i}, labels: {{a: b, c: d}}}}\n  spec: {{containers: [{{name: c, resources: {{requests: {{cpu: 100m}}}}}}]}}\n"
                )
            })
            .collect();
        let list = format!("kind: List\nitems:\n{items}");
        assert_eq!(load_documents("list.yaml", &list).unwrap().len(), 20_000);
        // Billion laughs.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for k in 1..12 {
            let prev = (b'a' + k - 1) as char;
            let this = (b'a' + k) as char;
            bomb.push_str(&format!(
                "{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let e = load_documents("bomb.yaml", &bomb).unwrap_err();
        assert!(e.message.contains("split the file"), "{e}");
    }
}
