//! Placeholder: the plugin host lands with the plugin platform issue.
