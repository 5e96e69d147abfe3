//! TODO: tls dissector.
