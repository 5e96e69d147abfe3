//! `leakscope report`: summaries of a replay's output (terminal and HTML).
