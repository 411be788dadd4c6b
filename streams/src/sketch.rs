//! sketch (being implemented).
