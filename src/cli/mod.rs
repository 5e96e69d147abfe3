//! Command-line conventions shared by the subcommands: how tcpdump users name inputs and
//! filters, how logs are written.

pub mod inputs;
