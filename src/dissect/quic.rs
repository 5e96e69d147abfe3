//! TODO: quic dissector.
