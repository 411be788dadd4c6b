//! dataflow (being implemented).
