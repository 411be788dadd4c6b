//! War Room stream operators and the timely dataflow that runs them.
//!
//! Pure operators (each testable alone): [`sentiment`] (VADER), [`window`] (event-time
//! minute buckets and sliding KPIs), [`sketch`] (bounded heavy hitters), [`crisis`]
//! (detectors with hysteresis), [`campaign`] (ad platform aggregates). [`dataflow`] wires
//! them into a timely dataflow whose workers own organisations by hash.

pub mod campaign;
pub mod crisis;
pub mod dataflow;
pub mod sentiment;
pub mod sketch;
pub mod window;
