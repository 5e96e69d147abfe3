//! TODO: http dissector.
