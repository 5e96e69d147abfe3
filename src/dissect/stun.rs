//! TODO: stun dissector.
