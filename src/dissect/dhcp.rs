//! TODO: dhcp dissector.
