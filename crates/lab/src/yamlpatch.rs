//! Edits of a YAML manifest file that keep the rest of it as written: given each
//! document's value before and after an edit, change only the lines that hold what
//! changed (a scalar, a list item, a key added or removed), in flow style, so that a
//! diff of the file shows the edit and nothing else. The result is read back and
//! compared with the intended values; where block YAML is written in a shape this does
//! not follow, the document is written out whole instead (still correct, less tidy).

use nodepack_formats::docs::load_documents;
use serde_json::Value;
use std::ops::Range;

/// A replacement of lines `range` by `with`.
struct Splice {
    range: Range<usize>,
    with: Vec<String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A block sequence item's line: `- ...` or a lone `-`.
fn is_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t == "-"
}

fn significant(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn is_separator(line: &str) -> bool {
    let t = line.trim_end();
    t == "---" || t.starts_with("--- ") || t == "..."
}

/// A scalar that YAML reads back as the same string when written without quotes (the
/// read-back check in [`patch`] catches anything this lets through).
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let lower = s.to_ascii_lowercase();
    first.is_ascii_alphanumeric()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/%-".contains(c))
        && !matches!(
            lower.as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "nan" | "inf"
        )
        && s.parse::<f64>().is_err()
        && !(first.is_ascii_digit()
            && (lower.starts_with("0x")
                || lower.starts_with("0o")
                || lower.starts_with("0b")
                || s.contains('_')))
        && (!first.is_ascii_digit() || s.chars().any(|c| c.is_ascii_alphabetic() || c == '%'))
}

/// `v` in YAML flow style, on one line.
pub(crate) fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", flow(&Value::String(k.clone())), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Where a value sits in the text.
enum Place {
    /// The value of the key on line `line` (at `indent`): text after the colon, then the
    /// block of lines `block`.
    Key {
        line: usize,
        indent: usize,
        key: String,
        block: Range<usize>,
    },
    /// A list item starting on line `line` (its dash at `indent`), through `block`.
    Item {
        line: usize,
        indent: usize,
        block: Range<usize>,
    },
}

struct Patcher<'a> {
    lines: &'a [String],
    splices: Vec<Splice>,
}

/// The text after `key:` on a key line, without a trailing comment.
fn inline_value(line: &str) -> &str {
    let after = line.split_once(':').map_or("", |(_, v)| v);
    let v = match after.find(" #") {
        Some(i) => &after[..i],
        None => after,
    };
    v.trim()
}

fn key_of(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with("- ") || t.starts_with('{') || t.starts_with('[') {
        return None;
    }
    let (k, _) = t.split_once(':')?;
    let k = k.trim();
    let k = k
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| k.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(k);
    Some(k.to_string())
}

impl Patcher<'_> {
    /// The last significant line in `r`, if any.
    fn last_significant(&self, r: &Range<usize>) -> Option<usize> {
        r.clone().rev().find(|&i| significant(&self.lines[i]))
    }

    /// The entries of the block mapping in `r` (None when `r` is not one).
    fn map_entries(&self, r: &Range<usize>) -> Option<Vec<Place>> {
        let (ci, heads) = self.heads(r)?;
        let mut keys = Vec::new();
        for i in heads {
            let l = &self.lines[i];
            if is_item(l) {
                // A list at the key's own indent belongs to the previous key.
                if keys.is_empty() {
                    return None;
                }
                continue;
            }
            keys.push((i, key_of(l)?));
        }
        let mut out = Vec::new();
        for (n, (line, key)) in keys.iter().enumerate() {
            let end = keys.get(n + 1).map_or(r.end, |(l, _)| *l);
            out.push(Place::Key {
                line: *line,
                indent: ci,
                key: key.clone(),
                block: line + 1..end,
            });
        }
        Some(out)
    }

    /// The items of the block sequence in `r` (None when `r` is not one).
    fn seq_items(&self, r: &Range<usize>) -> Option<Vec<Place>> {
        let (di, starts) = self.heads(r)?;
        if !starts.iter().all(|&i| is_item(&self.lines[i])) {
            return None;
        }
        Some(
            starts
                .iter()
                .enumerate()
                .map(|(n, &line)| Place::Item {
                    line,
                    indent: di,
                    block: line + 1..starts.get(n + 1).copied().unwrap_or(r.end),
                })
                .collect(),
        )
    }

    /// The indent of the first significant line of `r` and the significant lines at
    /// that indent (None when `r` is empty or a line is indented less).
    fn heads(&self, r: &Range<usize>) -> Option<(usize, Vec<usize>)> {
        let first = r.clone().find(|&i| significant(&self.lines[i]))?;
        let at = indent(&self.lines[first]);
        let mut heads = Vec::new();
        for i in r.clone() {
            let l = &self.lines[i];
            if !significant(l) {
                continue;
            }
            match indent(l) {
                ind if ind < at => return None,
                ind if ind == at => heads.push(i),
                _ => {}
            }
        }
        Some((at, heads))
    }

    /// The block of lines of a value at `place`, trimmed of trailing blank and comment
    /// lines (they belong to what follows).
    fn trimmed(&self, block: &Range<usize>) -> Range<usize> {
        match self.last_significant(block) {
            Some(l) => block.start..l + 1,
            None => block.start..block.start,
        }
    }

    fn replace(&mut self, place: &Place, new: &Value) {
        match place {
            Place::Key {
                line,
                indent,
                key,
                block,
            } => {
                let block = self.trimmed(block);
                self.splices.push(Splice {
                    range: *line..block.end.max(line + 1),
                    with: vec![format!(
                        "{}{}: {}",
                        " ".repeat(*indent),
                        flow(&Value::String(key.clone())),
                        flow(new)
                    )],
                });
            }
            Place::Item {
                line,
                indent,
                block,
            } => {
                let block = self.trimmed(block);
                self.splices.push(Splice {
                    range: *line..block.end.max(line + 1),
                    with: vec![format!("{}- {}", " ".repeat(*indent), flow(new))],
                });
            }
        }
    }

    /// Patch the value `old` written at `place` (its block `block`, inline text
    /// `inline`) into `new`.
    fn value(
        &mut self,
        place: &Place,
        inline: &str,
        block: Range<usize>,
        old: &Value,
        new: &Value,
    ) {
        if old == new {
            return;
        }
        let block = self.trimmed(&block);
        if inline.is_empty() && !block.is_empty() {
            match (old, new) {
                (Value::Object(o), Value::Object(n)) => {
                    if let Some(entries) = self.map_entries(&block) {
                        if self.map(&entries, &block, o, n) {
                            return;
                        }
                    }
                }
                (Value::Array(o), Value::Array(n)) => {
                    if let Some(items) = self.seq_items(&block) {
                        if items.len() == o.len() && self.seq(&items, &block, o, n) {
                            return;
                        }
                    }
                }
                _ => {}
            }
        }
        self.replace(place, new);
    }

    /// Patch a block mapping; false when its shape does not match the value.
    fn map(
        &mut self,
        entries: &[Place],
        block: &Range<usize>,
        o: &serde_json::Map<String, Value>,
        n: &serde_json::Map<String, Value>,
    ) -> bool {
        let keys: Vec<&str> = entries
            .iter()
            .filter_map(|p| match p {
                Place::Key { key, .. } => Some(key.as_str()),
                Place::Item { .. } => None,
            })
            .collect();
        if keys.len() != o.len() || !o.keys().all(|k| keys.contains(&k.as_str())) {
            return false;
        }
        let ci = match entries.first() {
            Some(Place::Key { indent, .. }) => *indent,
            _ => return false,
        };
        for p in entries {
            let Place::Key {
                line, key, block, ..
            } = p
            else {
                continue;
            };
            match n.get(key) {
                None => {
                    let b = self.trimmed(block);
                    self.splices.push(Splice {
                        range: *line..b.end.max(line + 1),
                        with: vec![],
                    });
                }
                Some(nv) => {
                    let inline = inline_value(&self.lines[*line]).to_string();
                    self.value(p, &inline, block.clone(), &o[key], nv);
                }
            }
        }
        let added: Vec<String> = n
            .iter()
            .filter(|(k, _)| !o.contains_key(*k))
            .map(|(k, v)| {
                format!(
                    "{}{}: {}",
                    " ".repeat(ci),
                    flow(&Value::String(k.clone())),
                    flow(v)
                )
            })
            .collect();
        if !added.is_empty() {
            let at = self.last_significant(block).map_or(block.start, |l| l + 1);
            self.splices.push(Splice {
                range: at..at,
                with: added,
            });
        }
        true
    }

    /// Patch a block sequence item by item, appending or dropping items at the end or
    /// dropping one in the middle; false when the change is of another shape.
    fn seq(&mut self, items: &[Place], block: &Range<usize>, o: &[Value], n: &[Value]) -> bool {
        let di = match items.first() {
            Some(Place::Item { indent, .. }) => *indent,
            _ => return false,
        };
        let item_block = |p: &Place| match p {
            Place::Item { line, block, .. } => (*line, block.clone()),
            Place::Key { line, block, .. } => (*line, block.clone()),
        };
        if n.len() + 1 == o.len() {
            // One item removed?
            if let Some(gone) = (0..o.len()).find(|&i| o[..i] == n[..i] && o[i + 1..] == n[i..]) {
                let (line, b) = item_block(&items[gone]);
                let b = self.trimmed(&b);
                self.splices.push(Splice {
                    range: line..b.end.max(line + 1),
                    with: vec![],
                });
                return true;
            }
            return false;
        }
        if n.len() < o.len() {
            return false;
        }
        for (i, p) in items.iter().enumerate() {
            if o[i] != n[i] {
                self.replace(p, &n[i]);
            }
        }
        let added: Vec<String> = n[o.len()..]
            .iter()
            .map(|v| format!("{}- {}", " ".repeat(di), flow(v)))
            .collect();
        if !added.is_empty() {
            let at = self.last_significant(block).map_or(block.start, |l| l + 1);
            self.splices.push(Splice {
                range: at..at,
                with: added,
            });
        }
        true
    }
}

/// The documents of a YAML file as line ranges (documents with no content skipped).
fn document_ranges(lines: &[String]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..=lines.len() {
        if i == lines.len() || is_separator(&lines[i]) {
            if (start..i).any(|j| significant(&lines[j])) {
                out.push(start..i);
            }
            start = i + 1;
        }
    }
    out
}

/// `text` (the file `label`) with its documents changed from `old` to `new` (one value
/// per document, in order), touching only the lines that change; documents this cannot
/// patch in place are written out whole. The result always reads back as `new`.
pub(crate) fn patch(
    label: &str,
    text: &str,
    old: &[Value],
    new: &[Value],
) -> Result<String, String> {
    if old.len() != new.len() {
        return Err(format!("{label}: an edit may not add or remove documents"));
    }
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let ranges = document_ranges(&lines);
    let trailing_newline = text.ends_with('\n');
    let mut patcher = Patcher {
        lines: &lines,
        splices: Vec::new(),
    };
    let in_place = ranges.len() == old.len();
    for (d, (o, n)) in old.iter().zip(new).enumerate() {
        if o == n {
            continue;
        }
        let whole = |p: &mut Patcher| {
            let r = if in_place {
                ranges[d].clone()
            } else {
                0..lines.len()
            };
            p.splices.push(Splice {
                range: r,
                with: vec![format!("# written whole by nodepack advise\n{}", flow(n))],
            });
        };
        if !in_place {
            whole(&mut patcher);
            continue;
        }
        let (Value::Object(om), Value::Object(nm)) = (o, n) else {
            whole(&mut patcher);
            continue;
        };
        let r = ranges[d].clone();
        let ok = match patcher.map_entries(&r) {
            Some(entries) => patcher.map(&entries, &r, om, nm),
            None => false,
        };
        if !ok {
            whole(&mut patcher);
        }
    }
    let mut splices = patcher.splices;
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 4);
    let mut at = 0;
    for s in &splices {
        if s.range.start < at {
            return Err(format!("{label}: overlapping edits"));
        }
        out.extend(lines[at..s.range.start].iter().cloned());
        out.extend(s.with.iter().cloned());
        at = s.range.end;
    }
    out.extend(lines[at..].iter().cloned());
    let mut result = out.join("\n");
    if trailing_newline {
        result.push('\n');
    }
    // Read back: the patched file must hold exactly the new values.
    let back: Vec<Value> = load_documents(label, &result)
        .map_err(|e| format!("{label}: the edited file does not read back: {e}"))?
        .into_iter()
        .map(|d| d.value)
        .collect();
    if back != new {
        // Last resort: every document written out, one per separator.
        let whole: Vec<String> = new.iter().map(flow).collect();
        let text = format!("# written by nodepack advise\n{}\n", whole.join("\n---\n"));
        let back: Vec<Value> = load_documents(label, &text)
            .map_err(|e| format!("{label}: {e}"))?
            .into_iter()
            .map(|d| d.value)
            .collect();
        if back != new {
            return Err(format!("{label}: the edit cannot be written back as YAML"));
        }
        return Ok(text);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Value> {
        load_documents("t.yaml", text)
            .unwrap()
            .into_iter()
            .map(|d| d.value)
            .collect()
    }

    const POOL: &str = "# a comment that stays\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: default\nspec:\n  disruption:\n    consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 1m   # keep\n  template:\n    spec:\n      expireAfter: 720h\n      requirements:\n      - {key: kubernetes.io/arch, operator: In, values: [amd64]}\n      - key: karpenter.sh/capacity-type\n        operator: In\n        values:\n        - on-demand\n      - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: [\"2\"]}\n---\n# second\nkind: EC2NodeClass\nmetadata: {name: default}\n";

    fn edit(f: impl Fn(&mut Value)) -> (Vec<Value>, Vec<Value>, String) {
        let old = docs(POOL);
        let mut new = old.clone();
        f(&mut new[0]);
        let text = patch("t.yaml", POOL, &old, &new).unwrap();
        (old, new, text)
    }

    fn changed_lines(a: &str, b: &str) -> usize {
        let a: Vec<&str> = a.lines().collect();
        let b: Vec<&str> = b.lines().collect();
        b.iter().filter(|l| !a.contains(l)).count() + a.iter().filter(|l| !b.contains(l)).count()
    }

    #[test]
    fn a_scalar_changes_on_its_line() {
        let (_, new, text) = edit(|d| {
            d["spec"]["disruption"]["consolidateAfter"] = Value::String("5m".into());
        });
        assert_eq!(docs(&text), new);
        assert!(text.contains("    consolidateAfter: 5m\n"), "{text}");
        assert!(text.contains("# a comment that stays") && text.contains("# second"));
        assert_eq!(changed_lines(POOL, &text), 2, "{text}");
    }

    #[test]
    fn list_items_change_append_and_go_in_place() {
        // A block-style item replaced by its flow form.
        let (_, new, text) = edit(|d| {
            d["spec"]["template"]["spec"]["requirements"][1]["values"] =
                serde_json::json!(["on-demand", "spot"]);
        });
        assert_eq!(docs(&text), new);
        assert!(text.contains("      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand, spot]}\n"), "{text}");
        // An item appended after the last; numbers-as-strings stay quoted.
        let (_, new, text) = edit(|d| {
            d["spec"]["template"]["spec"]["requirements"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"key": "karpenter.k8s.aws/instance-cpu", "operator": "Lt", "values": ["33"]}));
        });
        assert_eq!(docs(&text), new);
        assert_eq!(changed_lines(POOL, &text), 1, "{text}");
        // An item removed from the middle.
        let (_, new, text) = edit(|d| {
            d["spec"]["template"]["spec"]["requirements"]
                .as_array_mut()
                .unwrap()
                .remove(1);
        });
        assert_eq!(docs(&text), new);
        assert_eq!(changed_lines(POOL, &text), 4, "{text}");
    }

    #[test]
    fn keys_are_added_and_removed() {
        let (_, new, text) = edit(|d| {
            d["spec"]["disruption"]["budgets"] = serde_json::json!([{"nodes": "1"}]);
            d["spec"]["template"]["spec"]
                .as_object_mut()
                .unwrap()
                .remove("expireAfter");
        });
        assert_eq!(docs(&text), new);
        assert!(text.contains("    budgets: [{nodes: \"1\"}]\n"), "{text}");
        // A key whose parent is missing comes with it, in flow style.
        let (_, new, text) = edit(|d| {
            d["spec"]["limits"] = serde_json::json!({"cpu": "100"});
        });
        assert_eq!(docs(&text), new);
        assert!(text.contains("  limits: {cpu: \"100\"}\n"), "{text}");
    }

    #[test]
    fn flow_documents_are_rewritten_and_still_read_back() {
        let text = "{\"kind\": \"NodePool\", \"spec\": {\"weight\": 1}}\n";
        let old = docs(text);
        let mut new = old.clone();
        new[0]["spec"]["weight"] = serde_json::json!(2);
        let out = patch("t.yaml", text, &old, &new).unwrap();
        assert_eq!(docs(&out), new);
    }

    #[test]
    fn flow_quotes_what_yaml_would_read_otherwise() {
        for s in [
            "2", "true", "on", "1.5", "", "a: b", "#x", "*", "1e3", "0x1F", "0s", "30%", "1h30m",
            ".5",
        ] {
            let v = Value::String(s.into());
            let back = docs(&format!("k: {}\n", flow(&v)));
            assert_eq!(back[0]["k"], v, "{s}");
        }
    }
}
