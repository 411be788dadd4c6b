//! Webhooks: `POST /api/v1/webhooks/{service}` for sources that push ([`incoming`]), and
//! the admin API of outgoing webhooks under `/api/v1/admin/webhooks` ([`admin`]).

pub mod admin;
pub mod incoming;
