//! Highlighted snippets, computed from a hit's fields with the same
//! analysis and matching rules the query used, so both backends highlight
//! alike — and only in fields the viewer may search.
//!
//! **Must never:** look at a field the viewer may not search.

use serde::{Deserialize, Serialize};

use crate::document::SearchDocument;
use crate::query::Viewer;
use crate::text::{self, QueryWord};

/// Longest snippet, in bytes (about two lines).
const WINDOW: usize = 200;
/// Context kept before the first match, in bytes.
const LEAD: usize = 60;
/// Most snippets per hit.
const MAX_SNIPPETS: usize = 3;

/// Which field a snippet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnippetField {
    Description,
    Address,
    PublicNote,
    /// Private: staff of the department and administrators only.
    InternalNote,
    /// Private: staff of the department and administrators only.
    ReporterName,
    /// Private: staff of the department and administrators only.
    ReporterEmail,
    /// Private: staff of the department and administrators only.
    ReporterPhone,
}

/// A passage of a field with the matching words marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snippet {
    pub field: SnippetField,
    /// The passage (an ellipsis marks text cut at either end).
    pub text: String,
    /// Byte ranges of `text` that matched the query.
    pub highlights: Vec<(usize, usize)>,
}

impl Snippet {
    /// The passage as HTML: escaped, matches wrapped in `<mark>`.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 16 * self.highlights.len());
        let mut at = 0;
        for &(from, to) in &self.highlights {
            if from < at || to > self.text.len() {
                continue;
            }
            escape_into(&mut out, self.text.get(at..from).unwrap_or(""));
            out.push_str("<mark>");
            escape_into(&mut out, self.text.get(from..to).unwrap_or(""));
            out.push_str("</mark>");
            at = to;
        }
        escape_into(&mut out, self.text.get(at..).unwrap_or(""));
        out
    }

    /// The highlighted words themselves.
    pub fn highlighted(&self) -> Vec<&str> {
        self.highlights
            .iter()
            .filter_map(|&(a, b)| self.text.get(a..b))
            .collect()
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The fields of `doc` the viewer may search, in display order.
fn searchable_fields<'a>(doc: &'a SearchDocument, viewer: &Viewer) -> Vec<(SnippetField, &'a str)> {
    let privileged = viewer.privileged_for(doc.department_code.as_deref());
    let mut v = Vec::new();
    v.extend(doc.description.as_deref().map(|d| (SnippetField::Description, d)));
    if !doc.address_sensitive || privileged {
        v.extend(doc.address.as_deref().map(|a| (SnippetField::Address, a)));
    }
    v.extend(doc.public_notes.iter().map(|n| (SnippetField::PublicNote, n.as_str())));
    if privileged {
        v.extend(
            doc.internal_notes
                .iter()
                .map(|n| (SnippetField::InternalNote, n.as_str())),
        );
        v.extend(doc.reporter_name.as_deref().map(|s| (SnippetField::ReporterName, s)));
        v.extend(doc.reporter_email.as_deref().map(|s| (SnippetField::ReporterEmail, s)));
        v.extend(doc.reporter_phone.as_deref().map(|s| (SnippetField::ReporterPhone, s)));
    }
    v
}

/// Snippets of the fields of `doc` that match `words`, as `viewer` may see them.
pub(crate) fn snippets(doc: &SearchDocument, viewer: &Viewer, words: &[QueryWord]) -> Vec<Snippet> {
    if words.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (field, value) in searchable_fields(doc, viewer) {
        if out.len() >= MAX_SNIPPETS {
            break;
        }
        let marks: Vec<(usize, usize)> = text::tokens(value)
            .into_iter()
            .filter(|t| words.iter().any(|w| text::matches(w, &t.term)))
            .map(|t| (t.from, t.to))
            .collect();
        if let Some(s) = cut(field, value, &marks) {
            out.push(s);
        }
    }
    out
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A window of `value` around its first match.
fn cut(field: SnippetField, value: &str, marks: &[(usize, usize)]) -> Option<Snippet> {
    let &(first, _) = marks.first()?;
    let (mut start, mut end) = (0, value.len());
    if value.len() > WINDOW {
        start = floor_boundary(value, first.saturating_sub(LEAD));
        // Start on a word boundary when one is near.
        if start > 0
            && let Some(sp) = value[start..first].find(char::is_whitespace)
        {
            start += sp + 1;
        }
        end = floor_boundary(value, start + WINDOW);
        if end < value.len()
            && let Some(sp) = value[start..end].rfind(char::is_whitespace)
            && sp > first - start
        {
            end = start + sp;
        }
    }
    let lead = if start > 0 { "…" } else { "" };
    let tail = if end < value.len() { "…" } else { "" };
    let shift = lead.len();
    let text = format!("{lead}{}{tail}", &value[start..end]);
    let highlights = marks
        .iter()
        .filter(|&&(a, b)| a >= start && b <= end)
        .map(|&(a, b)| (a - start + shift, b - start + shift))
        .collect();
    Some(Snippet {
        field,
        text,
        highlights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_and_marks() {
        let s = Snippet {
            field: SnippetField::Description,
            text: "a <b> pothole".into(),
            highlights: vec![(6, 13)],
        };
        assert_eq!(s.to_html(), "a &lt;b&gt; <mark>pothole</mark>");
        assert_eq!(s.highlighted(), vec!["pothole"]);
    }

    #[test]
    fn long_text_is_cut_around_the_first_match() {
        let long = format!("{} pothole {}", "word ".repeat(80), "more ".repeat(80));
        let marks = vec![(long.find("pothole").unwrap_or(0), long.find("pothole").unwrap_or(0) + 7)];
        let s = cut(SnippetField::Description, &long, &marks).unwrap();
        assert!(s.text.starts_with('…') && s.text.ends_with('…'), "{}", s.text);
        assert_eq!(s.highlighted(), vec!["pothole"]);
        assert!(s.text.len() <= WINDOW + 8);
    }
}
