//! Text analysis shared by every backend: how request text becomes search
//! terms, how a query becomes words to match, and when a term matches a word.
//!
//! One pipeline serves indexing, querying, highlighting and duplicate
//! detection, so they can never disagree about what "matches":
//! split on anything that is not a letter or digit → lowercase → drop
//! English and Spanish stop words → fold accents to ASCII → English stemmer →
//! Spanish stemmer. Requests carry no language, so every word goes through
//! both stemmers; folding comes first so that "calle", "Calle" and "Cállé"
//! reach the stemmers as the same word.
//!
//! Typo tolerance follows Meilisearch's defaults, measured on the stemmed
//! word: no typo under 5 characters, one from 5, two from 9; a transposition
//! counts as one typo. The last word of a query that does not end with a
//! space also matches as a prefix (search as you type).
//!
//! **Must never:** do I/O, or depend on which backend is in use.

use std::sync::LazyLock;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};

/// Name under which the analyzer is registered in tantivy.
pub(crate) const ANALYZER: &str = "townhall";

/// Longest word kept (longer "words" are noise such as encoded blobs).
const MAX_WORD_BYTES: usize = 48;

/// Most words a query may have; the rest are ignored.
pub const MAX_QUERY_WORDS: usize = 10;

static BASE: LazyLock<TextAnalyzer> = LazyLock::new(build_analyzer);

fn build_analyzer() -> TextAnalyzer {
    let english = StopWordFilter::new(Language::English).unwrap_or_else(|| StopWordFilter::remove(Vec::new()));
    let spanish = StopWordFilter::new(Language::Spanish).unwrap_or_else(|| StopWordFilter::remove(Vec::new()));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(english)
        .filter(spanish)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .filter(Stemmer::new(Language::Spanish))
        .build()
}

/// The analyzer to register with tantivy for the text fields.
pub(crate) fn analyzer() -> TextAnalyzer {
    BASE.clone()
}

/// One analyzed word of a text, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub term: String,
    /// Byte range of the original word in the text.
    pub from: usize,
    pub to: usize,
}

/// Every term of `text`, with byte offsets into `text`.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let t = stream.token();
        out.push(Token {
            term: t.text.clone(),
            from: t.offset_from,
            to: t.offset_to,
        });
    }
    out
}

/// The terms of `text`, in order.
pub fn terms(text: &str) -> Vec<String> {
    tokens(text).into_iter().map(|t| t.term).collect()
}

/// The terms of `text` joined by spaces (what Meilisearch indexes).
pub fn terms_joined(text: &str) -> String {
    terms(text).join(" ")
}

/// A word of a query, ready to match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueryWord {
    /// The analyzed (folded, stemmed) term.
    pub term: String,
    /// How many typos a match may have.
    pub typos: u8,
    /// Whether the word also matches as the beginning of a longer term.
    pub prefix: bool,
}

/// Typos allowed for a term of this many characters.
pub fn typos_for(term: &str) -> u8 {
    match term.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Analyzes a query: at most [`MAX_QUERY_WORDS`] distinct words, the last one
/// a prefix unless the query ends with whitespace. A query made only of stop
/// words yields no words (it matches like an empty query).
pub fn query_words(text: &str) -> Vec<QueryWord> {
    let tokens = tokens(text);
    let ends_open = text.chars().last().is_some_and(|c| c.is_alphanumeric());
    let last_end = text.trim_end().len();
    let mut words: Vec<QueryWord> = Vec::new();
    for t in tokens {
        if words.len() >= MAX_QUERY_WORDS {
            break;
        }
        let prefix = ends_open && t.to == last_end && t.term.chars().count() >= 2;
        if let Some(existing) = words.iter_mut().find(|w| w.term == t.term) {
            existing.prefix |= prefix;
            continue;
        }
        words.push(QueryWord {
            typos: typos_for(&t.term),
            term: t.term,
            prefix,
        });
    }
    words
}

/// Whether an analyzed term of a document matches a query word.
pub fn matches(word: &QueryWord, term: &str) -> bool {
    if term == word.term {
        return true;
    }
    if word.prefix && term.starts_with(word.term.as_str()) {
        return true;
    }
    if word.typos == 0 {
        return false;
    }
    let typos = usize::from(word.typos);
    if osa_distance(&word.term, term) <= typos {
        return true;
    }
    if word.prefix {
        // A prefix with typos: some beginning of `term` is within reach.
        let want = word.term.chars().count();
        let chars: Vec<char> = term.chars().collect();
        let lo = want.saturating_sub(typos);
        let hi = (want + typos).min(chars.len());
        for len in lo..=hi {
            let head: String = chars.iter().take(len).collect();
            if osa_distance(&word.term, &head) <= typos {
                return true;
            }
        }
    }
    false
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent
/// transpositions counting as one edit (what tantivy's fuzzy queries use).
pub fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    if n == 0 {
        return m;
    }
    if m == 0 {
        return n;
    }
    let width = m + 1;
    let mut d = vec![0usize; (n + 1) * width];
    for i in 0..=n {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(m + 1) {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[n * width + m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_stems_both_languages() {
        assert_eq!(terms("bache"), terms("baches"));
        assert_eq!(terms("calle"), terms("Cállé"));
        assert_eq!(terms("Streetlights"), terms("streetlight"));
        assert_eq!(terms("flooding"), terms("flooded"));
        assert_eq!(terms("información"), terms("informacion"));
        assert_eq!(terms("the pothole on Elm"), terms("pothole elm"));
        assert!(terms("de la the").is_empty());
    }

    #[test]
    fn query_words_mark_the_open_last_word_as_prefix() {
        let w = query_words("pothole stre");
        assert_eq!(w.len(), 2);
        assert!(!w[0].prefix);
        assert!(w[1].prefix);
        assert!(!query_words("pothole street ").iter().any(|w| w.prefix));
    }

    #[test]
    fn typo_matching() {
        let w = QueryWord {
            term: "pothol".into(),
            typos: 1,
            prefix: false,
        };
        assert!(matches(&w, "pothol"));
        assert!(matches(&w, "pothl"));
        assert!(matches(&w, "pohtol"));
        assert!(!matches(&w, "potato"));
        assert_eq!(osa_distance("abcd", "acbd"), 1);
        assert_eq!(osa_distance("kitten", "sitting"), 3);
    }
}
