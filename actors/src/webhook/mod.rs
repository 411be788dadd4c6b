//! Webhooks: the signature both directions share ([`signature`]) and the outgoing
//! delivery of organisation events to admin-configured endpoints ([`outgoing`]).

pub mod outgoing;
pub mod signature;

pub use outgoing::{WebhookDispatcher, WebhookEvent, WebhookQueue, WebhookStats};
