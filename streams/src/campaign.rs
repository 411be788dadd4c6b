//! campaign (being implemented).
