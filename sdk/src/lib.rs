//! Placeholder: the SDK lands with the plugin platform issue.
