//! Placeholder: search lands with the search issue.
