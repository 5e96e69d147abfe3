//! TODO: whatsapp dissector.
