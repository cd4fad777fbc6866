//! Plain-text tables for a terminal: no dependency, no colours (output is
//! often piped or pasted into a ticket). Long cells are cut so one wide
//! value does not push every row apart — except in the last column, which
//! pads nothing and usually holds the message a person must read whole.

/// Widest a cell may be before it is cut with `…`.
const MAX_CELL: usize = 60;

pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let last = self.header.len().saturating_sub(1);
        let cut = |i: usize, s: &str| -> String {
            // Control characters (a CR in a CSV cell) would break the layout.
            let clean: String = s
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if i != last && clean.chars().count() > MAX_CELL {
                let mut t: String = clean.chars().take(MAX_CELL - 1).collect();
                t.push('…');
                t
            } else {
                clean
            }
        };
        let header: Vec<String> = self
            .header
            .iter()
            .enumerate()
            .map(|(i, h)| cut(i, h))
            .collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().enumerate().map(|(i, c)| cut(i, c)).collect())
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
        }
        let line = |cells: &[String]| -> String {
            let mut out = String::new();
            for (i, w) in widths.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                if i + 1 == widths.len() {
                    out.push_str(c);
                } else {
                    out.push_str(c);
                    out.push_str(&" ".repeat(w - c.chars().count() + 2));
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = line(&header);
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule));
        out.push('\n');
        for r in &rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn aligns_columns_and_cuts_long_cells() {
        let mut t = Table::new(&["row", "code", "message"]);
        t.row(vec![
            "3".into(),
            "unknown_plan".into(),
            "no such plan".into(),
        ]);
        let message = "m".repeat(100);
        t.row(vec!["12".into(), "x".repeat(80), message.clone()]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        // The middle column is cut to 60 characters; the last never is.
        assert_eq!(lines[0], format!("row  code{}message", " ".repeat(58)));
        assert_eq!(
            lines[1],
            format!("---  {}  {}", "-".repeat(60), "-".repeat(100))
        );
        assert_eq!(
            lines[2],
            format!("3    unknown_plan{}no such plan", " ".repeat(50))
        );
        assert_eq!(lines[3], format!("12   {}…  {message}", "x".repeat(59)));
    }
}
