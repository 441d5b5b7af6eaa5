//! Reading YAML or JSON text into documents, and documents into typed values with field
//! paths in errors and unknown fields reported.

use crate::error::{Ctx, FormatError, Warning};
use serde::de::DeserializeOwned;
use serde::Deserialize;
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
    let mut out = Vec::new();
    for_each_document(file, text, |d| {
        out.push(d);
        Ok(())
    })?;
    Ok(out)
}

/// [`load_documents`], one document at a time: `f` gets each document as it is read.
/// A JSON file is read as a stream: the items of a top-level List reach `f` one by one
/// and are dropped after it, so a list of 300,000 pods never exists as one JSON tree
/// (only the text and the current item do). `f`'s first error stops the reading.
pub fn for_each_document(
    file: &str,
    text: &str,
    mut f: impl FnMut(Document) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let base = Ctx::file(file);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return json_documents(&base, text, &mut f);
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: YAML_MAX_DOCUMENTS,
            max_nodes: YAML_MAX_NODES,
            max_events: 2 * YAML_MAX_NODES,
            max_total_scalar_bytes: YAML_MAX_SCALAR_BYTES,
        },
    };
    let values = serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| {
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
    })?;
    for (i, v) in values.into_iter().enumerate() {
        emit(base.doc(i), v, &mut f)?;
    }
    Ok(())
}

/// Is this a List kind (`List`, or `...List` with an items array)?
fn is_list(kind: Option<&str>, has_items: bool) -> bool {
    kind == Some("List") || kind.is_some_and(|k| k.ends_with("List")) && has_items
}

/// Hand one document to `f`, a List's items one by one.
fn emit(
    ctx: Ctx,
    v: Value,
    f: &mut impl FnMut(Document) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    if v.is_null() {
        return Ok(());
    }
    let kind = v.get("kind").and_then(Value::as_str);
    if !is_list(kind, v.get("items").is_some_and(Value::is_array)) {
        return f(Document { ctx, value: v });
    }
    let Value::Object(mut m) = v else {
        return Err(ctx.error(None, "a List must be an object"));
    };
    let Some(Value::Array(items)) = m.remove("items") else {
        return Err(ctx
            .field("items")
            .error(None, "a List needs an items array"));
    };
    for (j, item) in items.into_iter().enumerate() {
        f(Document {
            ctx: item_ctx(&ctx, j),
            value: item,
        })?;
    }
    Ok(())
}

fn item_ctx(ctx: &Ctx, j: usize) -> Ctx {
    Ctx {
        path: format!("items[{j}]"),
        ..ctx.clone()
    }
}

/// A JSON file as a stream of documents: a top-level array's elements, or one object
/// whose `items` array (a List's) is handed over item by item while it is parsed.
fn json_documents(
    base: &Ctx,
    text: &str,
    f: &mut impl FnMut(Document) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    /// The visitors' state: the callback and the first error it returned (a serde error
    /// stops the parser; this one is reported instead of it).
    struct Sink<'s, F> {
        base: &'s Ctx,
        f: &'s mut F,
        failed: Option<FormatError>,
    }

    impl<F: FnMut(Document) -> Result<(), FormatError>> Sink<'_, F> {
        fn give<E: serde::de::Error>(&mut self, r: Result<(), FormatError>) -> Result<(), E> {
            r.map_err(|e| {
                self.failed = Some(e);
                E::custom("stopped")
            })
        }
    }

    struct Top<'a, 's, F>(&'a mut Sink<'s, F>);

    impl<'de, F: FnMut(Document) -> Result<(), FormatError>> Visitor<'de> for Top<'_, '_, F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object or array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while let Some(v) = seq.next_element::<Value>()? {
                let r = emit(self.0.base.doc(i), v, self.0.f);
                self.0.give(r)?;
                i += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let ctx = self.0.base.doc(0);
            let mut rest = serde_json::Map::new();
            // Items handed over before the kind was read (kubectl prints `items`
            // before `kind`).
            let mut streamed: Option<usize> = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == "items" && streamed.is_none() {
                    let seed = Items {
                        sink: &mut *self.0,
                        ctx: &ctx,
                        given: 0,
                    };
                    match map.next_value_seed(seed)? {
                        Ok(n) => streamed = Some(n),
                        Err(v) => {
                            rest.insert(key, v);
                        }
                    }
                } else {
                    let v: Value = map.next_value()?;
                    rest.insert(key, v);
                }
            }
            let kind = rest.get("kind").and_then(Value::as_str);
            let r = match streamed {
                Some(_) if is_list(kind, true) => Ok(()),
                Some(_) => Err(ctx.field("items").error(
                    None,
                    "only a List (kind: List, or a kind ending in List) may have a top-level items array",
                )),
                None => emit(ctx, Value::Object(rest), self.0.f),
            };
            self.0.give(r)
        }
    }

    /// A top-level `items` value: an array is handed over element by element (the
    /// count given); anything else is kept as a value.
    struct Items<'a, 's, 'c, F> {
        sink: &'a mut Sink<'s, F>,
        ctx: &'c Ctx,
        given: usize,
    }

    impl<'de, F: FnMut(Document) -> Result<(), FormatError>> DeserializeSeed<'de>
        for Items<'_, '_, '_, F>
    {
        type Value = Result<usize, Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de, F: FnMut(Document) -> Result<(), FormatError>> Visitor<'de> for Items<'_, '_, '_, F> {
        type Value = Result<usize, Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
            while let Some(v) = seq.next_element::<Value>()? {
                let doc = Document {
                    ctx: item_ctx(self.ctx, self.given),
                    value: v,
                };
                let r = (self.sink.f)(doc);
                self.sink.give(r)?;
                self.given += 1;
            }
            Ok(Ok(self.given))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            Ok(Err(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Err(Value::String(v.into())))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Err(Value::String(v)))
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Err(Value::Bool(v)))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Err(Value::from(v)))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Err(Value::from(v)))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Err(Value::from(v)))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Err(Value::Null))
        }
    }

    let mut sink = Sink {
        base,
        f,
        failed: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de.deserialize_any(Top(&mut sink)).and_then(|()| de.end());
    if let Some(e) = sink.failed {
        return Err(e);
    }
    parsed.map_err(|e| {
        let mut err = base.error(
            None,
            format!("invalid JSON: {}", plain_words(&e.to_string())),
        );
        err.path = format!("line {}, column {}", e.line(), e.column());
        err
    })
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

    /// JSON is read as a stream: a List's items reach the reader one by one, whether
    /// `items` comes before or after `kind`; a top-level array's Lists are flattened
    /// too; an item the reader refuses stops the reading with the reader's error, and
    /// broken JSON after good items is still a JSON error with its line and column.
    #[test]
    fn json_lists_stream_item_by_item() {
        let names = |text: &str| -> Result<Vec<(String, String)>, FormatError> {
            let mut out = Vec::new();
            for_each_document("l.json", text, |d| {
                let n = d.value["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                out.push((d.ctx.path.clone(), n));
                Ok(())
            })?;
            Ok(out)
        };
        let pod = |n: &str| format!(r#"{{"kind":"Pod","metadata":{{"name":"{n}"}}}}"#);
        let kubectl = format!(
            r#"{{"apiVersion":"v1","items":[{},{}],"kind":"List","metadata":{{}}}}"#,
            pod("a"),
            pod("b")
        );
        let got = names(&kubectl).unwrap();
        assert_eq!(
            got,
            vec![
                ("items[0]".to_string(), "a".to_string()),
                ("items[1]".to_string(), "b".to_string())
            ]
        );
        let kind_first = format!(r#"{{"kind":"PodList","items":[{}]}}"#, pod("c"));
        assert_eq!(names(&kind_first).unwrap()[0].1, "c");
        let array = format!("[{}, {kubectl}]", pod("d"));
        let got = names(&array).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (String::new(), "d".to_string()));
        // A plain object is one document, with its own items field.
        let plain = r#"{"kind":"Pod","metadata":{"name":"e"},"items":{"x":1}}"#;
        let mut seen = Vec::new();
        for_each_document("p.json", plain, |d| {
            seen.push(d.value);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen[0]["items"]["x"], 1);
        // Errors: a non-List with an items array, a List without one, the reader's own.
        let e = names(&format!(r#"{{"items":[{}],"kind":"Pod"}}"#, pod("f"))).unwrap_err();
        assert!(e.message.contains("only a List"), "{e}");
        assert_eq!(e.path, "items");
        let e = names(r#"{"kind":"List","items":5}"#).unwrap_err();
        assert!(e.message.contains("items array"), "{e}");
        let mut n = 0;
        let e = for_each_document("l.json", &kubectl, |d| {
            n += 1;
            Err(d.ctx.field("spec").error(None, "refused"))
        })
        .unwrap_err();
        assert_eq!(
            (n, e.path.as_str(), e.message.as_str()),
            (1, "items[0].spec", "refused")
        );
        let broken = format!(r#"{{"items":[{}, {{"kind": }}]}}"#, pod("g"));
        let e = names(&broken).unwrap_err();
        assert!(e.message.starts_with("invalid JSON"), "{e}");
        assert!(e.path.starts_with("line 1, column"), "{e}");
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
