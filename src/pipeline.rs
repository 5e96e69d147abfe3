//! Pipeline wiring.
