//! Rows read from PostgreSQL as plain values, so the row → sample mapping is pure.
//!
//! Every query casts its columns in SQL to `text`, `float8`, `int8` or `bool`; [`decode`]
//! turns a driver row into a [`Row`] of [`Cell`]s and rejects any other type with a message
//! that names the column, so a new query with an uncast `numeric` fails in the tests.

use std::sync::Arc;

use anyhow::{Context, bail};
use sqlx::postgres::PgRow;
use sqlx::{Column, Row as _, TypeInfo};

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
}

/// One row: values in query order, with the column names shared by all rows of a result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    names: Arc<[String]>,
    cells: Vec<Cell>,
}

impl Row {
    /// A row from `(column, value)` pairs (tests build rows this way).
    pub fn of(cells: impl IntoIterator<Item = (&'static str, Cell)>) -> Row {
        let (names, cells): (Vec<String>, Vec<Cell>) = cells
            .into_iter()
            .map(|(name, cell)| (name.to_string(), cell))
            .unzip();
        Row {
            names: names.into(),
            cells,
        }
    }

    fn cell(&self, column: &str) -> anyhow::Result<&Cell> {
        self.names
            .iter()
            .position(|name| name == column)
            .and_then(|i| self.cells.get(i))
            .with_context(|| format!("column {column} is missing from the result"))
    }

    /// A text column; NULL reads as the empty string (as postgres_exporter labels do).
    pub fn text(&self, column: &str) -> anyhow::Result<String> {
        match self.cell(column)? {
            Cell::Null => Ok(String::new()),
            Cell::Text(text) => Ok(text.clone()),
            Cell::Number(n) => Ok(format_number_label(*n)),
            Cell::Bool(b) => Ok(b.to_string()),
        }
    }

    /// A text column that may be NULL.
    pub fn opt_text(&self, column: &str) -> anyhow::Result<Option<String>> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            _ => self.text(column).map(Some),
        }
    }

    /// A numeric (or boolean, as 0/1) column that may be NULL.
    pub fn opt_number(&self, column: &str) -> anyhow::Result<Option<f64>> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            Cell::Number(n) => Ok(Some(*n)),
            Cell::Bool(b) => Ok(Some(if *b { 1.0 } else { 0.0 })),
            Cell::Text(text) => text
                .trim()
                .parse()
                .map(Some)
                .with_context(|| format!("column {column} is not a number: {text:?}")),
        }
    }

    /// A numeric column; NULL reads as 0 (postgres_exporter's convention for counters).
    pub fn number(&self, column: &str) -> anyhow::Result<f64> {
        Ok(self.opt_number(column)?.unwrap_or(0.0))
    }
}

/// Integers as labels print without a fraction (`datid="5"`).
fn format_number_label(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Turns driver rows into [`Row`]s.
pub fn decode_all(rows: &[PgRow]) -> anyhow::Result<Vec<Row>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let names: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    rows.iter()
        .map(|row| {
            Ok(Row {
                names: names.clone(),
                cells: decode_cells(row)?,
            })
        })
        .collect()
}

fn decode_cells(row: &PgRow) -> anyhow::Result<Vec<Cell>> {
    let mut cells = Vec::with_capacity(row.columns().len());
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let type_name = column.type_info().name();
        let cell = match type_name {
            "TEXT" | "NAME" | "VARCHAR" | "BPCHAR" | "CHAR" => row
                .try_get::<Option<String>, _>(i)
                .map(|v| v.map_or(Cell::Null, Cell::Text)),
            "FLOAT8" => row
                .try_get::<Option<f64>, _>(i)
                .map(|v| v.map_or(Cell::Null, Cell::Number)),
            "FLOAT4" => row
                .try_get::<Option<f32>, _>(i)
                .map(|v| v.map_or(Cell::Null, |v| Cell::Number(f64::from(v)))),
            "INT8" => row
                .try_get::<Option<i64>, _>(i)
                .map(|v| v.map_or(Cell::Null, |v| Cell::Number(v as f64))),
            "INT4" => row
                .try_get::<Option<i32>, _>(i)
                .map(|v| v.map_or(Cell::Null, |v| Cell::Number(f64::from(v)))),
            "INT2" => row
                .try_get::<Option<i16>, _>(i)
                .map(|v| v.map_or(Cell::Null, |v| Cell::Number(f64::from(v)))),
            "BOOL" => row
                .try_get::<Option<bool>, _>(i)
                .map(|v| v.map_or(Cell::Null, Cell::Bool)),
            other => bail!(
                "column {name} has type {other}: cast it to text, float8, int8 or bool in the query"
            ),
        }
        .with_context(|| format!("decoding column {name}"))?;
        cells.push(cell);
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_cells_with_exporter_conventions() {
        let row = Row::of([
            ("datname", Cell::Text("mastodon".into())),
            ("datid", Cell::Number(16384.0)),
            ("missing_label", Cell::Null),
            ("xact_commit", Cell::Number(12.0)),
            ("idx_scan", Cell::Null),
            ("active", Cell::Bool(true)),
            ("setting", Cell::Text(" 128 ".into())),
        ]);
        assert_eq!(row.text("datname").unwrap(), "mastodon");
        assert_eq!(row.text("datid").unwrap(), "16384");
        assert_eq!(row.text("missing_label").unwrap(), "");
        assert_eq!(row.opt_text("missing_label").unwrap(), None);
        assert_eq!(row.number("xact_commit").unwrap(), 12.0);
        assert_eq!(row.number("idx_scan").unwrap(), 0.0);
        assert_eq!(row.opt_number("idx_scan").unwrap(), None);
        assert_eq!(row.number("active").unwrap(), 1.0);
        assert_eq!(row.number("setting").unwrap(), 128.0);
        assert!(row.number("nope").is_err());
        assert!(row.number("datname").is_err());
    }
}
