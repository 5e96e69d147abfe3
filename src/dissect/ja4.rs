//! TODO: ja4 dissector.
