//! A person's console preferences: how each table of the console is laid out (which columns, in
//! which order, how wide, how many rows a page, the sort), kept on the server so that they
//! follow the person from browser to browser. A document is parsed whole by
//! [`Preferences::parse`]: an unknown field, a duplicate column or a value out of range is
//! refused with the path of the field, never stored and never half-applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most tables one document lays out.
pub const MAX_TABLES: usize = 32;
/// Most columns one table lists.
pub const MAX_COLUMNS: usize = 64;
/// Largest document, as JSON.
pub const MAX_BYTES: usize = 16 * 1024;
/// Column widths, in CSS pixels.
pub const WIDTHS: std::ops::RangeInclusive<u32> = 40..=2000;
/// Rows per page a table may show (the list APIs answer up to 200).
pub const PAGE_SIZES: [u32; 5] = [10, 25, 50, 100, 200];

/// The whole document: one layout per table, by the table's name (`users`, `roles`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default)]
    pub tables: BTreeMap<String, TableLayout>,
}

/// How one table is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableLayout {
    /// The columns in display order; columns not listed follow in their default order.
    #[serde(default)]
    pub columns: Vec<Column>,
    /// Rows per page: 10, 25, 50, 100 or 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The column's name (`email`, `last_login`, ...).
    pub id: String,
    #[serde(default = "shown")]
    pub visible: bool,
    /// Width in CSS pixels, 40 to 2000; absent: the table's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
}

fn shown() -> bool {
    true
}

/// The column a table is sorted by, and which way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    pub column: String,
    pub order: Order,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

/// A table or column name: a lower-case letter, then letters, digits or `_`, at most 32.
fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    s.len() <= 32
        && b.next().is_some_and(|c| c.is_ascii_lowercase())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn refused(field: String, message: impl Into<String>) -> Error {
    Error::invalid_field("invalid_preferences", field, message)
}

impl Preferences {
    /// Parses a document a client sent.
    pub fn parse(body: serde_json::Value) -> Result<Self> {
        if body.to_string().len() > MAX_BYTES {
            return Err(refused(
                "preferences".into(),
                format!("the preferences document is larger than {MAX_BYTES} bytes"),
            ));
        }
        if !body.is_object() {
            return Err(refused(
                "preferences".into(),
                "the preferences are a JSON object: {\"tables\": {...}}",
            ));
        }
        let p: Self = serde_path_to_error::deserialize(body).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "preferences".into()
            } else {
                path
            };
            refused(field, e.into_inner().to_string())
        })?;
        p.check()?;
        Ok(p)
    }

    /// Reads a stored document, with the same checks.
    pub fn from_stored(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::internal(format!("the stored preferences are not JSON: {e}")))?;
        Self::parse(value).map_err(|e| Error::internal(format!("the stored preferences: {e}")))
    }

    fn check(&self) -> Result<()> {
        if self.tables.len() > MAX_TABLES {
            return Err(refused(
                "tables".into(),
                format!("at most {MAX_TABLES} tables"),
            ));
        }
        for (name, t) in &self.tables {
            let at = |rest: &str| format!("tables.{name}{rest}");
            if !is_name(name) {
                return Err(refused(
                    "tables".into(),
                    format!(
                        "`{name}` is not a table name: a lower-case letter, then letters, digits or _, at most 32"
                    ),
                ));
            }
            if t.columns.len() > MAX_COLUMNS {
                return Err(refused(
                    at(".columns"),
                    format!("at most {MAX_COLUMNS} columns"),
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, c) in t.columns.iter().enumerate() {
                if !is_name(&c.id) {
                    return Err(refused(
                        at(&format!(".columns[{i}].id")),
                        format!(
                            "`{}` is not a column name: a lower-case letter, then letters, digits or _, at most 32",
                            c.id
                        ),
                    ));
                }
                if !seen.insert(c.id.as_str()) {
                    return Err(refused(
                        at(&format!(".columns[{i}].id")),
                        format!("the column `{}` is listed twice", c.id),
                    ));
                }
                if c.width.is_some_and(|w| !WIDTHS.contains(&w)) {
                    return Err(refused(
                        at(&format!(".columns[{i}].width")),
                        format!("a width is {} to {} pixels", WIDTHS.start(), WIDTHS.end()),
                    ));
                }
            }
            if t.page_size.is_some_and(|n| !PAGE_SIZES.contains(&n)) {
                return Err(refused(
                    at(".page_size"),
                    "page_size is one of 10, 25, 50, 100 or 200",
                ));
            }
            if let Some(s) = &t.sort
                && !is_name(&s.column)
            {
                return Err(refused(
                    at(".sort.column"),
                    format!("`{}` is not a column name", s.column),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(v: serde_json::Value) -> String {
        match Preferences::parse(v) {
            Err(Error::Invalid { field, .. }) => field.unwrap_or_default(),
            other => panic!("refused expected, got {other:?}"),
        }
    }

    #[test]
    fn a_document_is_parsed_whole_or_refused_with_the_field() {
        let p = Preferences::parse(json!({"tables": {"users": {
            "columns": [{"id": "name"}, {"id": "email", "visible": false, "width": 240}],
            "page_size": 25, "sort": {"column": "last_login", "order": "desc"}}}}))
        .unwrap();
        let users = &p.tables["users"];
        assert!(users.columns[0].visible);
        assert_eq!(users.columns[1].width, Some(240));
        assert_eq!(users.sort.as_ref().unwrap().order, Order::Desc);
        assert_eq!(
            Preferences::parse(json!({})).unwrap(),
            Preferences::default()
        );

        let t = |layout: serde_json::Value| json!({"tables": {"users": layout}});
        assert_eq!(
            field_of(t(json!({"columns": [{"id": "name", "width": 39}]}))),
            "tables.users.columns[0].width"
        );
        assert_eq!(
            field_of(t(json!({"columns": [{"id": "name"}, {"id": "name"}]}))),
            "tables.users.columns[1].id"
        );
        assert_eq!(
            field_of(t(json!({"page_size": 7}))),
            "tables.users.page_size"
        );
        assert_eq!(
            field_of(t(json!({"sort": {"column": "name", "order": "up"}}))),
            "tables.users.sort.order"
        );
        assert_eq!(
            field_of(t(json!({"colums": []}))),
            "tables.users.colums",
            "an unknown field is refused by its name, not ignored"
        );
        assert_eq!(field_of(json!({"tables": {"Users!": {}}})), "tables");
        assert_eq!(field_of(json!([1, 2])), "preferences");
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_TABLES)
            .map(|i| (format!("t{i}"), json!({})))
            .collect();
        assert_eq!(field_of(json!({ "tables": many })), "tables");
        let huge = json!({"tables": {"users": {"columns": [{"id": "x".repeat(MAX_BYTES)}]}}});
        assert_eq!(field_of(huge), "preferences");
    }

    #[test]
    fn a_stored_document_that_does_not_parse_is_an_internal_error() {
        assert!(Preferences::from_stored(r#"{"tables": {}}"#).is_ok());
        for bad in ["", "{", r#"{"tables": {"users": {"page_size": 3}}}"#] {
            assert!(
                matches!(Preferences::from_stored(bad), Err(Error::Internal(_))),
                "{bad}"
            );
        }
    }
}
