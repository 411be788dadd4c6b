//! War Room supervised actors: source actors (mock generators, later live connectors),
//! one organisation actor per tenant, one session actor per WebSocket, and the supervision
//! tree that restarts them.

pub mod mock;
