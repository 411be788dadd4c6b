//! Where records come from: the supervised source actors ([`actor`]: mock generators in
//! MOCK mode, [`connectors`] in LIVE), the generators themselves ([`mock`]), and the one
//! door every origin goes through, ingest requests included ([`ingest`], which
//! de-duplicates with [`dedup`]).
//!
//! The sources stay in this crate rather than their own: they submit through the
//! [`ingest::Ingestor`] and report into [`crate::status`] and [`crate::metrics`], which
//! would otherwise become public API of a second crate for one caller, and the runtime
//! starts them as children of its supervisor.

pub mod actor;
pub mod connectors;
pub mod dedup;
pub mod ingest;
pub mod mock;
