//! Placeholder: the Public Works plugin lands with the plugin platform issue.
