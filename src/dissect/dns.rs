//! TODO: dns dissector.
