//! Errors and warnings that name the file, the document, the field path and the value.

use serde_json::Value;
use std::fmt;

/// A bad input: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// The file (or `-` for standard input, or a label such as `<embedded>`).
    pub file: String,
    /// Index of the document in a multi-document file or list, from 0.
    pub document: Option<usize>,
    /// Field path, e.g. `spec.containers[0].resources.requests.cpu`.
    pub path: String,
    /// The offending value, rendered as JSON, when there is one.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(d) = self.document {
            write!(f, " (document {d})")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        if let Some(v) = &self.value {
            write!(f, " = {v}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FormatError {}

/// Names are identities: record `name`, item `i` of the list `list` (whose context is
/// `ctx`), or fail naming the item that had it first.
pub(crate) fn unique_name(
    seen: &mut std::collections::BTreeMap<String, usize>,
    ctx: &Ctx,
    list: &str,
    name: &str,
    i: usize,
) -> Result<(), FormatError> {
    match seen.insert(name.to_string(), i) {
        Some(first) => Err(ctx.field("name").error(
            Some(name),
            format!("{name} appears twice (first at {list}[{first}]): names are identities"),
        )),
        None => Ok(()),
    }
}

/// Where in the input a value is being read: file, document and field path.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// File name.
    pub file: String,
    /// Document index.
    pub document: Option<usize>,
    /// Field path so far.
    pub path: String,
}

impl Ctx {
    /// The context of a whole file.
    pub fn file(file: &str) -> Self {
        Ctx {
            file: file.to_string(),
            document: None,
            path: String::new(),
        }
    }

    /// The same file, document `i`.
    pub fn doc(&self, i: usize) -> Self {
        Ctx {
            document: Some(i),
            path: String::new(),
            ..self.clone()
        }
    }

    /// A field below the current path.
    pub fn field(&self, name: &str) -> Self {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        Ctx {
            path,
            ..self.clone()
        }
    }

    /// An element of a list below the current path.
    pub fn index(&self, i: usize) -> Self {
        Ctx {
            path: format!("{}[{i}]", self.path),
            ..self.clone()
        }
    }

    /// An error at this place, with the offending value.
    pub fn error(&self, value: Option<&str>, message: impl Into<String>) -> FormatError {
        FormatError {
            file: self.file.clone(),
            document: self.document,
            path: self.path.clone(),
            value: value.map(|v| format!("{v:?}")),
            message: message.into(),
        }
    }

    /// An error at this place, with a JSON value.
    pub fn error_json(&self, value: &Value, message: impl Into<String>) -> FormatError {
        let mut e = self.error(None, message);
        e.value = Some(truncate(&value.to_string()));
        e
    }

    /// A warning at this place.
    pub fn warning(&self, message: impl Into<String>) -> Warning {
        Warning {
            file: self.file.clone(),
            document: self.document,
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

/// Shorten a rendered value to 80 characters for messages.
pub(crate) fn truncate(s: &str) -> String {
    if s.chars().count() > 80 {
        let t: String = s.chars().take(77).collect();
        format!("{t}...")
    } else {
        s.to_string()
    }
}

/// Something in the input that was read but not used (an unknown field, an ignored
/// kind), reported so it is not silently lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// File name.
    pub file: String,
    /// Document index.
    pub document: Option<usize>,
    /// Field path.
    pub path: String,
    /// What was ignored and why.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(d) = self.document {
            write!(f, " (document {d})")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}
