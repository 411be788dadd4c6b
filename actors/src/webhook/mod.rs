//! Webhooks: the signature both directions share ([`signature`]), the outgoing delivery
//! of organisation events to admin-configured endpoints ([`outgoing`]) through a durable
//! outbox, and the rule of which receivers may be called ([`target`]).

pub mod outgoing;
pub mod signature;
pub mod target;

pub use outgoing::{WebhookDispatcher, WebhookEvent, WebhookQueue, WebhookStats};
