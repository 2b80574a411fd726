//! Readable tables and JSON.
//!
//! Every command reads rows as JSON objects (the server's `row_to_json`, so every type
//! has one faithful form) and either prints them as JSON or picks and formats columns
//! for a table. Formatting is for people only: JSON carries the values unchanged.

use serde_json::{Map, Value};

pub type Row = Map<String, Value>;

/// How a column's value is shown in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// As it is (strings without quotes).
    Plain,
    /// An ISO timestamp shortened to the second: `2026-12-07 16:05:39+00`.
    Timestamp,
    /// A number of seconds as `3d 4h`, `2m 5s`, `1.5s`.
    Seconds,
    /// A number of milliseconds as `12.3 ms` or `4.2 s`.
    Millis,
    /// true/false as yes/no.
    YesNo,
    /// An array as its elements separated by commas.
    List,
}

/// A table column: its heading, the row key it shows and how.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub heading: &'static str,
    pub key: &'static str,
    pub format: Format,
}

pub const fn col(heading: &'static str, key: &'static str, format: Format) -> Column {
    Column {
        heading,
        key,
        format,
    }
}

/// The text of one value (`""` for NULL or a missing key).
pub fn cell(v: Option<&Value>, format: Format) -> String {
    let v = match v {
        None | Some(Value::Null) => return String::new(),
        Some(v) => v,
    };
    match (format, v) {
        (Format::Timestamp, Value::String(s)) => timestamp(s),
        (Format::Seconds, Value::Number(n)) => n.as_f64().map(seconds).unwrap_or_default(),
        (Format::Millis, Value::Number(n)) => n.as_f64().map(millis).unwrap_or_default(),
        (Format::YesNo, Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        (Format::List, Value::Array(a)) => a
            .iter()
            .map(|v| cell(Some(v), Format::Plain))
            .collect::<Vec<_>>()
            .join(", "),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// `2026-12-07T16:05:39.123456+00:00` → `2026-12-07 16:05:39+00`.
fn timestamp(s: &str) -> String {
    let (date_time, zone) = match s.rfind(['+', '-']) {
        Some(i) if i > 10 => (&s[..i], &s[i..]),
        _ => (s, ""),
    };
    let date_time = date_time.split('.').next().unwrap_or(date_time);
    let zone = zone.strip_suffix(":00").unwrap_or(zone);
    format!("{}{zone}", date_time.replacen('T', " ", 1))
}

/// A duration in seconds, to two significant units (`1d 3h`, `4m 12s`, `2.5s`).
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return s.to_string();
    }
    let sign = if s < 0.0 { "-" } else { "" };
    let s = s.abs();
    if s < 60.0 {
        return if s < 10.0 {
            format!("{sign}{s:.1}s")
        } else {
            format!("{sign}{:.0}s", s.floor())
        };
    }
    let total = s.floor() as u64;
    let (d, h, m, sec) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    let text = if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {sec}s")
    };
    format!("{sign}{text}")
}

/// A duration in milliseconds (`0.42 ms`, `12.3 ms`, `4.21 s`).
pub fn millis(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// Rows as an aligned table with a heading line; `(none)` when there are no rows.
pub fn table(rows: &[Row], columns: &[Column]) -> String {
    if rows.is_empty() {
        return "(none)\n".into();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| one_line(&cell(r.get(c.key), c.format)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.heading.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, vals: &mut dyn Iterator<Item = &str>| {
        let mut parts = Vec::new();
        for (v, w) in vals.zip(&widths) {
            parts.push(format!("{v:<w$}"));
        }
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut out, &mut columns.iter().map(|c| c.heading));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut out, &mut rule.iter().map(String::as_str));
    for r in &cells {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

/// One row as `heading: value` lines, headings aligned; empty values left out.
pub fn record(row: &Row, columns: &[Column]) -> String {
    let width = columns
        .iter()
        .map(|c| c.heading.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in columns {
        let v = cell(row.get(c.key), c.format);
        if v.is_empty() {
            continue;
        }
        let mut lines = v.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(&format!(
            "{:<width$}  {first}\n",
            format!("{}:", c.heading),
            width = width + 1
        ));
        for l in lines {
            out.push_str(&format!("{:width$}  {l}\n", "", width = width + 1));
        }
    }
    out
}

/// Table cells stay on one line: newlines and tabs become spaces, long texts are cut.
fn one_line(s: &str) -> String {
    const MAX: usize = 80;
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > MAX {
        let mut cut: String = flat.chars().take(MAX - 1).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}

/// Pretty JSON with a final newline.
pub fn json(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(seconds(0.25), "0.2s");
        assert_eq!(seconds(42.9), "42s");
        assert_eq!(seconds(125.0), "2m 5s");
        assert_eq!(seconds(3_725.0), "1h 2m");
        assert_eq!(seconds(266_400.0), "3d 2h");
        assert_eq!(seconds(-75.0), "-1m 15s");
        assert_eq!(millis(0.4), "0.40 ms");
        assert_eq!(millis(12.34), "12.3 ms");
        assert_eq!(millis(4_210.0), "4.21 s");
    }

    #[test]
    fn timestamps_are_shortened_to_the_second() {
        assert_eq!(
            timestamp("2026-12-07T16:05:39.123456+00:00"),
            "2026-12-07 16:05:39+00"
        );
        assert_eq!(
            timestamp("2026-12-07T16:05:39-05:30"),
            "2026-12-07 16:05:39-05:30"
        );
        assert_eq!(timestamp("2026-12-07T16:05:39"), "2026-12-07 16:05:39");
    }

    #[test]
    fn tables_align_and_flatten_cells() {
        let rows = vec![
            row(json!({"n": "public.a", "m": "DIFFERENTIAL", "s": 61.0, "ok": true})),
            row(json!({"n": "s.\"odd\nname\"", "m": null, "s": null, "ok": false})),
        ];
        let cols = [
            col("name", "n", Format::Plain),
            col("mode", "m", Format::Plain),
            col("staleness", "s", Format::Seconds),
            col("ok", "ok", Format::YesNo),
        ];
        assert_eq!(
            table(&rows, &cols),
            "name          mode          staleness  ok\n\
             ------------  ------------  ---------  ---\n\
             public.a      DIFFERENTIAL  1m 1s      yes\n\
             s.\"odd name\"                           no\n"
        );
        assert_eq!(table(&[], &cols), "(none)\n");
    }

    #[test]
    fn records_keep_multi_line_values_indented() {
        let r = row(json!({"q": "SELECT 1\nFROM t", "e": null, "n": 3}));
        let cols = [
            col("query", "q", Format::Plain),
            col("error", "e", Format::Plain),
            col("count", "n", Format::Plain),
        ];
        assert_eq!(
            record(&r, &cols),
            "query:  SELECT 1\n        FROM t\ncount:  3\n"
        );
    }
}
