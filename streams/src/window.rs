//! window (being implemented).
