//! The organisation directory: which organisations exist and where their actors are.
//!
//! It is also the dataflow's update sink (implemented beside the actor, in
//! [`crate::push::org`]): publishing an update is a non-blocking send to the organisation
//! actor's mailbox. ractor mailboxes are unbounded (ractor #84), so the directory counts
//! updates sent and not yet handled per organisation ([`OrgEntry::pending`]); health
//! reports that depth, and the ingest bound upstream limits how fast it can grow.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use ractor::{ActorRef, RpcReplyPort};
use warroom_engine::{OrgId, Organization};

use crate::push::dashboard_cache::DashboardCache;
use crate::push::org::OrgMsg;

/// One organisation's entry.
pub struct OrgEntry {
    /// The organisation.
    pub org: Organization,
    /// Its actor (replaced when the supervisor restarts it).
    actor: RwLock<Option<ActorRef<OrgMsg>>>,
    /// Updates sent and not yet handled.
    pub pending: Arc<AtomicUsize>,
    /// Its rendered dashboard views, published by its actor.
    pub dashboard: Arc<DashboardCache>,
    /// Sockets of this node subscribed to it now (see [`OrgEntry::count_socket`]).
    sockets: Arc<AtomicUsize>,
}

impl OrgEntry {
    /// The current actor, if running.
    pub fn actor(&self) -> Option<ActorRef<OrgMsg>> {
        self.actor.read().clone()
    }

    /// Installs a (re)started actor.
    pub fn set_actor(&self, actor: ActorRef<OrgMsg>) {
        // Updates queued in a dead mailbox are gone with it.
        self.pending.store(0, Ordering::Release);
        *self.actor.write() = Some(actor);
    }

    /// Sockets of this node subscribed to the organisation now.
    pub fn open_sockets(&self) -> usize {
        self.sockets.load(Ordering::Relaxed)
    }

    /// Counts a subscribed socket until the guard is dropped (the session keeps it while
    /// it is subscribed). Kept beside the actor rather than read from its subscriber list,
    /// so reading it costs no call through the mailbox and survives actor restarts.
    pub fn count_socket(&self) -> SocketCount {
        self.sockets.fetch_add(1, Ordering::Relaxed);
        SocketCount(Arc::clone(&self.sockets))
    }
}

/// Keeps a socket counted in [`OrgEntry::open_sockets`] while it lives.
#[derive(Debug)]
pub struct SocketCount(Arc<AtomicUsize>);

impl Drop for SocketCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a call to an organisation actor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No such organisation.
    #[error("unknown organisation")]
    UnknownOrg,
    /// The actor is restarting or did not answer in time.
    #[error("the organisation is temporarily unavailable")]
    Unavailable,
}

/// Every organisation, by id.
#[derive(Default)]
pub struct OrgDirectory {
    orgs: BTreeMap<OrgId, OrgEntry>,
}

impl OrgDirectory {
    /// A directory of these organisations (actors are installed later).
    pub fn new(orgs: impl IntoIterator<Item = Organization>) -> Self {
        Self {
            orgs: orgs
                .into_iter()
                .map(|org| {
                    (
                        org.id.clone(),
                        OrgEntry {
                            org,
                            actor: RwLock::new(None),
                            pending: Arc::new(AtomicUsize::new(0)),
                            dashboard: Arc::default(),
                            sockets: Arc::default(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The entry of an organisation.
    pub fn get(&self, org: &OrgId) -> Option<&OrgEntry> {
        self.orgs.get(org)
    }

    /// Every organisation.
    pub fn iter(&self) -> impl Iterator<Item = &OrgEntry> {
        self.orgs.values()
    }

    /// Every organisation id.
    pub fn ids(&self) -> Vec<OrgId> {
        self.orgs.keys().cloned().collect()
    }

    /// Asks an organisation actor and waits for the answer at most `timeout`.
    pub async fn call<T: Send + 'static>(
        &self,
        org: &OrgId,
        message: impl FnOnce(RpcReplyPort<T>) -> OrgMsg,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let actor = self
            .get(org)
            .ok_or(CallError::UnknownOrg)?
            .actor()
            .ok_or(CallError::Unavailable)?;
        match actor.call(message, Some(timeout)).await {
            Ok(ractor::rpc::CallResult::Success(value)) => Ok(value),
            _ => Err(CallError::Unavailable),
        }
    }

    /// Sends a message to every organisation actor (system events).
    pub fn broadcast(&self, message: impl Fn() -> OrgMsg) {
        for entry in self.orgs.values() {
            if let Some(actor) = entry.actor() {
                let _ = actor.send_message(message());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_counted_while_their_guards_live() {
        let directory = OrgDirectory::new([Organization {
            id: OrgId::new("alpha"),
            name: "Alpha".into(),
        }]);
        let entry = directory.get(&OrgId::new("alpha")).unwrap();
        assert_eq!(entry.open_sockets(), 0);
        let first = entry.count_socket();
        let second = entry.count_socket();
        assert_eq!(entry.open_sockets(), 2);
        drop(first);
        assert_eq!(entry.open_sockets(), 1);
        drop(second);
        assert_eq!(entry.open_sockets(), 0);
    }
}
