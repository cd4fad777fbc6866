//! PostgreSQL's faster path for bulk assignment rows: each batch goes as
//! four text parameters, one per column, values joined by a separator byte
//! and split again by `string_to_array`. PostgreSQL splits such a text
//! several times faster than it parses the same rows as JSON
//! (`json_to_recordset`), which was most of the cost of saving a
//! million-row draft. A batch holding a value this format cannot carry
//! (one with a separator byte, or empty) goes the JSON way instead.

use super::AssignmentRow;

/// Between values of one column.
const SEP: char = '\u{1f}';
/// A whole value meaning NULL (`string_to_array`'s third argument).
const NULL: char = '\u{1e}';

/// The statement for `table` (a constant of this crate, never input).
pub(super) fn insert_sql(table: &str) -> String {
    let col = |n: usize| format!("string_to_array(${n}, E'\\x1f', E'\\x1e')");
    format!(
        "INSERT INTO {table} (migration_id, user_id, plan, addons, username) \
         SELECT $1, x.user_id, x.plan, x.addons, x.username \
         FROM unnest({}, {}, {}, {}) AS x(user_id, plan, addons, username)",
        col(2),
        col(3),
        col(4),
        col(5)
    )
}

/// The four column texts of `rows`, or `None` if a value cannot be carried.
pub(super) fn columns(rows: &[AssignmentRow<'_>]) -> Option<[String; 4]> {
    let mut out: [String; 4] = Default::default();
    for (i, row) in rows.iter().enumerate() {
        let values = [
            Some(row.user_id),
            row.plan,
            Some(row.addons.as_str()),
            row.username,
        ];
        for (text, value) in out.iter_mut().zip(values) {
            if i > 0 {
                text.push(SEP);
            }
            match value {
                // An empty value would read back as no element at all.
                Some(v) if v.is_empty() || v.contains([SEP, NULL]) => return None,
                Some(v) => text.push_str(v),
                None => text.push(NULL),
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(id: &'a str, plan: Option<&'a str>, user: Option<&'a str>) -> AssignmentRow<'a> {
        AssignmentRow {
            user_id: id,
            plan,
            addons: "[]".into(),
            username: user,
        }
    }

    #[test]
    fn values_are_joined_and_none_is_the_null_marker() {
        let rows = [
            row("a", Some("Admin"), None),
            row("b", None, Some("B@x.example")),
        ];
        let [ids, plans, addons, users] = columns(&rows).expect("plain values are carried");
        assert_eq!(ids, "a\u{1f}b");
        assert_eq!(plans, "Admin\u{1f}\u{1e}");
        assert_eq!(addons, "[]\u{1f}[]");
        assert_eq!(users, "\u{1e}\u{1f}B@x.example");
    }

    #[test]
    fn values_the_format_cannot_carry_refuse_the_batch() {
        assert!(columns(&[row("a\u{1f}", None, None)]).is_none());
        assert!(columns(&[row("a", Some("\u{1e}"), None)]).is_none());
        assert!(columns(&[row("a", Some(""), None)]).is_none());
    }
}
