//! Result rows and the files they are written to: CSV and Parquet, one row per run, the
//! same columns in the same order in both.

use crate::LabError;
use nodepack_sim::metrics::Summary;
use parquet::basic::{ConvertedType, Repetition, Type as Physical};
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// One value of a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// A whole number.
    Int(i64),
    /// A number with a fraction (dollars, seconds, ratios).
    Float(f64),
    /// Text.
    Text(String),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Text(s) => f.write_str(s),
        }
    }
}

/// One row of a result table: named cells in column order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Row(pub Vec<(String, Cell)>);

impl Row {
    /// The cell of column `name`.
    pub fn get(&self, name: &str) -> Option<&Cell> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// The disruption reasons every row has a column for (0 when none happened).
const DISRUPTION_REASONS: &[&str] = &["drifted", "empty", "expired", "underutilized"];

/// A summary as named cells: every field (nested ones joined with `_`, e.g.
/// `pending_seconds_p99`; disruptions as `disruptions_<reason>`), in name order, without
/// the strategy and seed (a row's coordinates), the wall time (not deterministic) and
/// the list of unschedulable pods (counted in `pods_unschedulable`).
pub fn flatten_summary(s: &Summary) -> Vec<(String, Cell)> {
    let mut out = Vec::new();
    let Ok(Value::Object(map)) = serde_json::to_value(s) else {
        return out;
    };
    for (k, v) in &map {
        if matches!(
            k.as_str(),
            "strategy" | "seed" | "wall_seconds" | "unschedulable" | "disruptions"
        ) {
            continue;
        }
        flatten_into(k, v, &mut out);
    }
    for r in DISRUPTION_REASONS {
        let n = s.disruptions.get(*r).copied().unwrap_or(0);
        out.push((format!("disruptions_{r}"), Cell::Int(n as i64)));
    }
    for (r, n) in &s.disruptions {
        if !DISRUPTION_REASONS.contains(&r.as_str()) {
            out.push((format!("disruptions_{r}"), Cell::Int(*n as i64)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn flatten_into(name: &str, v: &Value, out: &mut Vec<(String, Cell)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten_into(&format!("{name}_{k}"), v, out);
            }
        }
        Value::Number(n) => {
            let cell = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) if !n.is_f64() => Cell::Int(i),
                (_, Some(x)) => Cell::Float(x),
                _ => Cell::Text(n.to_string()),
            };
            out.push((name.to_string(), cell));
        }
        Value::String(s) => out.push((name.to_string(), Cell::Text(s.clone()))),
        Value::Bool(b) => out.push((name.to_string(), Cell::Int(*b as i64))),
        Value::Null | Value::Array(_) => {}
    }
}

/// The columns of `rows`: those of the first row in its order, then any others in the
/// order they first appear.
fn columns(rows: &[Row]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut cols = Vec::new();
    for r in rows {
        for (k, _) in &r.0 {
            if seen.insert(k.clone()) {
                cols.push(k.clone());
            }
        }
    }
    cols
}

fn io(path: &str, e: impl std::fmt::Display) -> LabError {
    LabError::Io {
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// Write `rows` as CSV (a header, then one line per row; a cell a row lacks is empty).
pub fn write_csv(path: &str, rows: &[Row]) -> Result<(), LabError> {
    let cols = columns(rows);
    let mut w = csv::Writer::from_path(path).map_err(|e| io(path, e))?;
    w.write_record(&cols).map_err(|e| io(path, e))?;
    for r in rows {
        let line: Vec<String> = cols
            .iter()
            .map(|c| r.get(c).map(|v| v.to_string()).unwrap_or_default())
            .collect();
        w.write_record(&line).map_err(|e| io(path, e))?;
    }
    w.flush().map_err(|e| io(path, e))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Float,
    Text,
}

fn kind_of(rows: &[Row], col: &str) -> Kind {
    let mut k = Kind::Int;
    for c in rows.iter().filter_map(|r| r.get(col)) {
        match c {
            Cell::Text(_) => return Kind::Text,
            Cell::Float(_) => k = Kind::Float,
            Cell::Int(_) => {}
        }
    }
    k
}

/// Write `rows` as a Parquet file of one row group: whole-number columns as INT64,
/// others as DOUBLE, text as UTF-8 strings, every column optional (a cell a row lacks is
/// null); the columns of [`write_csv`], in its order.
pub fn write_parquet(path: &str, rows: &[Row]) -> Result<(), LabError> {
    let cols = columns(rows);
    let kinds: Vec<Kind> = cols.iter().map(|c| kind_of(rows, c)).collect();
    let mut fields = Vec::new();
    for (c, k) in cols.iter().zip(&kinds) {
        let t = match k {
            Kind::Int => Type::primitive_type_builder(c, Physical::INT64),
            Kind::Float => Type::primitive_type_builder(c, Physical::DOUBLE),
            Kind::Text => Type::primitive_type_builder(c, Physical::BYTE_ARRAY)
                .with_converted_type(ConvertedType::UTF8),
        }
        .with_repetition(Repetition::OPTIONAL)
        .build()
        .map_err(|e| io(path, e))?;
        fields.push(Arc::new(t));
    }
    let schema = Type::group_type_builder("nodepack_results")
        .with_fields(fields)
        .build()
        .map_err(|e| io(path, e))?;
    let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer =
        SerializedFileWriter::new(file, Arc::new(schema), props).map_err(|e| io(path, e))?;
    let mut group = writer.next_row_group().map_err(|e| io(path, e))?;
    let mut i = 0;
    while let Some(mut col) = group.next_column().map_err(|e| io(path, e))? {
        let name = &cols[i];
        let cells: Vec<Option<&Cell>> = rows.iter().map(|r| r.get(name)).collect();
        let defs: Vec<i16> = cells.iter().map(|c| c.is_some() as i16).collect();
        match kinds[i] {
            Kind::Int => {
                let v: Vec<i64> = cells
                    .iter()
                    .flatten()
                    .map(|c| match c {
                        Cell::Int(x) => *x,
                        _ => 0,
                    })
                    .collect();
                col.typed::<parquet::data_type::Int64Type>()
                    .write_batch(&v, Some(&defs), None)
                    .map_err(|e| io(path, e))?;
            }
            Kind::Float => {
                let v: Vec<f64> = cells
                    .iter()
                    .flatten()
                    .map(|c| match c {
                        Cell::Int(x) => *x as f64,
                        Cell::Float(x) => *x,
                        Cell::Text(_) => f64::NAN,
                    })
                    .collect();
                col.typed::<parquet::data_type::DoubleType>()
                    .write_batch(&v, Some(&defs), None)
                    .map_err(|e| io(path, e))?;
            }
            Kind::Text => {
                let v: Vec<ByteArray> = cells
                    .iter()
                    .flatten()
                    .map(|c| ByteArray::from(c.to_string().as_str()))
                    .collect();
                col.typed::<parquet::data_type::ByteArrayType>()
                    .write_batch(&v, Some(&defs), None)
                    .map_err(|e| io(path, e))?;
            }
        }
        col.close().map_err(|e| io(path, e))?;
        i += 1;
    }
    group.close().map_err(|e| io(path, e))?;
    writer.close().map_err(|e| io(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_flatten_to_stable_columns() {
        let mut s = Summary::default();
        s.cost = nodepack_model::Money::from_usd(12.5);
        s.disruptions.insert("empty".into(), 3);
        let cells = flatten_summary(&s);
        let get = |k: &str| cells.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("cost_usd"), Some(Cell::Float(12.5)));
        assert_eq!(get("pending_seconds_p99"), Some(Cell::Float(0.0)));
        assert_eq!(get("disruptions_empty"), Some(Cell::Int(3)));
        assert_eq!(get("disruptions_drifted"), Some(Cell::Int(0)));
        assert_eq!(get("wall_seconds"), None);
        assert_eq!(get("strategy"), None);
        let names: Vec<&String> = cells.iter().map(|(n, _)| n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "columns in name order");
    }

    #[test]
    fn csv_and_parquet_hold_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            Row(vec![
                ("strategy".into(), Cell::Text("a".into())),
                ("seed".into(), Cell::Int(1)),
                ("cost_usd".into(), Cell::Float(1.5)),
            ]),
            Row(vec![
                ("strategy".into(), Cell::Text("b".into())),
                ("seed".into(), Cell::Int(2)),
            ]),
        ];
        let csv_path = dir.path().join("r.csv").display().to_string();
        write_csv(&csv_path, &rows).unwrap();
        let text = std::fs::read_to_string(&csv_path).unwrap();
        assert_eq!(text, "strategy,seed,cost_usd\na,1,1.5\nb,2,\n");
        let pq = dir.path().join("r.parquet").display().to_string();
        write_parquet(&pq, &rows).unwrap();
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&pq).unwrap())
                .unwrap();
        use parquet::file::reader::FileReader;
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), 2);
        assert_eq!(meta.file_metadata().schema_descr().num_columns(), 3);
    }
}
