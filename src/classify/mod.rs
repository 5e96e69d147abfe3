//! Classification: rules (`rules/*.toml`) compiled once into a `Ruleset`, queried per flow.
