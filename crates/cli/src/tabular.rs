//! One grid of strings printed as a table for people or as CSV for programs, so every
//! command's `--output table` and `--output csv` show the same columns.

use crate::{Failure, Output};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

/// Column headers and rows.
#[derive(Clone, Debug, Default)]
pub struct Grid {
    /// Headers.
    pub headers: Vec<String>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<String>>,
}

impl Grid {
    /// A grid with these headers.
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Self {
        Grid {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// As a table.
    pub fn table(&self) -> Table {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(self.headers.clone());
        for r in &self.rows {
            t.add_row(r.clone());
        }
        t
    }

    /// As CSV text (RFC 4180 quoting), header first.
    pub fn csv(&self) -> Result<String, Failure> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.headers).map_err(Failure::internal)?;
        for r in &self.rows {
            w.write_record(r).map_err(Failure::internal)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| Failure::internal(anyhow::anyhow!("{e}")))?;
        String::from_utf8(bytes).map_err(Failure::internal)
    }

    /// Print as `output` asks (`Json` is the caller's business: it prints nothing).
    pub fn emit(&self, output: Output) -> Result<(), Failure> {
        match output {
            Output::Table => crate::emit(self.table()),
            Output::Csv => crate::emit(self.csv()?.trim_end()),
            Output::Json => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_quotes() {
        let mut g = Grid::new(&["a", "b"]);
        g.row(["x,y", "say \"hi\""]);
        assert_eq!(g.csv().ok().unwrap(), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n");
    }
}
