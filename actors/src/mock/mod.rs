//! Mock data generators (being implemented).
