//! Revocation that reaches every request and every open socket, on every node.
//!
//! A credential dies in one of five ways: its access token is logged out, its session
//! (the refresh-token family a login starts) is logged out or found replayed, its user's
//! other sessions end at a password change, its user is deactivated, or its API key is
//! revoked. The node where it happens applies the [`Revocation`] at once and publishes it
//! on the cache bus (Redis pub/sub when `[redis] url` is set), and every node applies it
//! to the requests it authenticates and closes the sockets it holds on that credential.
//!
//! The bus delivers at most once, so it is not the only source of truth: a session's state
//! is read from the store and cached for `auth.user_cache_ttl` (as users are), so a node
//! that missed a message refuses a revoked session's tokens within that time anyway.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use uuid::Uuid;
use warroom_actors::push::outbox::Outbox;

use super::{Actor, Principal};

/// The bus channel revocations travel on.
pub const REVOCATION_CHANNEL: &str = "auth:revocations";

/// Close code of a socket whose credential was revoked (logout, deactivation, key
/// revocation); the same code as an invalid credential, so clients log in again.
pub const CLOSE_REVOKED: u16 = 4001;

/// What was revoked, as published to every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// One access token, by `jti`, until its expiry (a token that names no session).
    AccessToken {
        /// Token id.
        jti: String,
        /// Its expiry (seconds since the epoch).
        exp: i64,
    },
    /// One session: every access token carrying its id (`sid`) and every socket opened
    /// with one.
    Session {
        /// The session (refresh-token family) id.
        id: Uuid,
    },
    /// Every session of a user but `keep` (a password change ends the others).
    UserSessions {
        /// The user.
        user: Uuid,
        /// The session that stays.
        keep: Option<Uuid>,
    },
    /// A user's role or active flag changed: cached copies are dropped, and when it was
    /// deactivated, its sockets close.
    User {
        /// The user.
        id: Uuid,
        /// Whether the account can no longer log in.
        deactivated: bool,
    },
    /// An API key was revoked: its sockets close (requests already re-read the key).
    ApiKey {
        /// The key.
        id: Uuid,
    },
}

impl Revocation {
    /// Whether a socket authenticated as `socket` loses its credential.
    fn closes(&self, socket: &SocketCredential) -> bool {
        match self {
            Revocation::AccessToken { jti, .. } => socket.jti.as_deref() == Some(jti.as_str()),
            Revocation::Session { id } => socket.session == Some(*id),
            Revocation::UserSessions { user, keep } => {
                socket.actor == Actor::User(*user) && socket.session != *keep
            }
            Revocation::User { id, deactivated } => {
                *deactivated && socket.actor == Actor::User(*id)
            }
            Revocation::ApiKey { id } => socket.actor == Actor::ApiKey(*id),
        }
    }
}

/// What a live socket authenticated with.
struct SocketCredential {
    actor: Actor,
    session: Option<Uuid>,
    jti: Option<String>,
}

/// One open socket in the registry.
struct LiveSocket {
    ip: Option<IpAddr>,
    outbox: Arc<Outbox>,
    credential: Option<SocketCredential>,
}

/// Why a socket was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketRefusal {
    /// The client address has `push.max_sockets_per_ip` open.
    TooManyFromIp(usize),
    /// The credential has `push.max_sockets_per_credential` open.
    TooManyForCredential(usize),
}

impl SocketRefusal {
    /// A message for the client.
    pub fn message(&self) -> String {
        match self {
            SocketRefusal::TooManyFromIp(cap) => {
                format!("this address already has {cap} sockets open (push.max_sockets_per_ip)")
            }
            SocketRefusal::TooManyForCredential(cap) => format!(
                "this credential already has {cap} sockets open (push.max_sockets_per_credential)"
            ),
        }
    }
}

/// Caps on open sockets.
#[derive(Debug, Clone)]
pub struct SocketCaps {
    /// Per user account or API key (services are exempt).
    pub per_credential: usize,
    /// Per client address, except the exempt networks.
    pub per_ip: usize,
    /// Addresses no per-address cap applies to (loopback by default: the load tester, or
    /// a local reverse proxy that caps its own clients).
    pub exempt: Vec<ipnet::IpNet>,
}

#[derive(Default)]
struct Registry {
    sockets: HashMap<u64, LiveSocket>,
    per_ip: HashMap<IpAddr, usize>,
    per_credential: HashMap<Actor, usize>,
}

/// Every open socket of this node, by session id, with what it authenticated with.
pub struct LiveSockets {
    caps: SocketCaps,
    registry: Mutex<Registry>,
}

impl LiveSockets {
    /// An empty registry enforcing `caps`.
    pub fn new(caps: SocketCaps) -> Self {
        Self {
            caps,
            registry: Mutex::new(Registry::default()),
        }
    }

    /// Sockets open now (the unit tests count them).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.registry.lock().sockets.len()
    }

    fn capped_ip(&self, ip: Option<IpAddr>) -> Option<IpAddr> {
        ip.filter(|ip| !self.caps.exempt.iter().any(|net| net.contains(ip)))
    }

    /// Admits a socket from `ip`, or refuses it when the address has its cap open. The
    /// ticket removes it when dropped.
    pub fn admit(
        self: &Arc<Self>,
        id: u64,
        ip: Option<IpAddr>,
        outbox: Arc<Outbox>,
    ) -> Result<SocketTicket, SocketRefusal> {
        let mut registry = self.registry.lock();
        if let Some(ip) = self.capped_ip(ip) {
            let open = registry.per_ip.entry(ip).or_default();
            if *open >= self.caps.per_ip {
                return Err(SocketRefusal::TooManyFromIp(self.caps.per_ip));
            }
            *open += 1;
        }
        registry.sockets.insert(
            id,
            LiveSocket {
                ip,
                outbox,
                credential: None,
            },
        );
        Ok(SocketTicket {
            live: Arc::clone(self),
            id,
        })
    }

    /// Closes every socket `revocation` takes the credential of; returns how many.
    pub fn close_revoked(&self, revocation: &Revocation) -> usize {
        let registry = self.registry.lock();
        let mut closed = 0;
        for socket in registry.sockets.values() {
            if socket
                .credential
                .as_ref()
                .is_some_and(|c| revocation.closes(c))
            {
                socket.outbox.close(CLOSE_REVOKED, "credential revoked");
                closed += 1;
            }
        }
        closed
    }
}

/// A socket's place in [`LiveSockets`]: counted until dropped.
pub struct SocketTicket {
    live: Arc<LiveSockets>,
    id: u64,
}

impl SocketTicket {
    /// Records the credential the socket authenticated with (at the upgrade, or by an
    /// `auth` frame, also a fresh token for the same credential). A new credential is
    /// refused when it has its cap of sockets open.
    pub fn authenticate(&self, principal: &Principal) -> Result<(), SocketRefusal> {
        let cap = self.live.caps.per_credential;
        let mut registry = self.live.registry.lock();
        let registry = &mut *registry;
        let Some(socket) = registry.sockets.get_mut(&self.id) else {
            return Ok(());
        };
        let same = socket
            .credential
            .as_ref()
            .is_some_and(|c| c.actor == principal.actor);
        let counted = !matches!(principal.actor, Actor::Service(_));
        if !same {
            if counted {
                let open = registry
                    .per_credential
                    .entry(principal.actor.clone())
                    .or_default();
                if *open >= cap {
                    return Err(SocketRefusal::TooManyForCredential(cap));
                }
                *open += 1;
            }
            if let Some(previous) = socket.credential.take() {
                release(&mut registry.per_credential, &previous.actor);
            }
        }
        socket.credential = Some(SocketCredential {
            actor: principal.actor.clone(),
            session: principal.session,
            jti: principal.token.as_ref().map(|(jti, _)| jti.clone()),
        });
        Ok(())
    }
}

fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(open) = counts.get_mut(key) {
        *open = open.saturating_sub(1);
        if *open == 0 {
            counts.remove(key);
        }
    }
}

impl Drop for SocketTicket {
    fn drop(&mut self) {
        let mut registry = self.live.registry.lock();
        let registry = &mut *registry;
        if let Some(socket) = registry.sockets.remove(&self.id) {
            if let Some(ip) = self.live.capped_ip(socket.ip) {
                release(&mut registry.per_ip, &ip);
            }
            if let Some(credential) = socket.credential {
                release(&mut registry.per_credential, &credential.actor);
            }
        }
    }
}

/// Access tokens revoked before their expiry, by `jti`, until they expire.
#[derive(Default)]
pub(super) struct RevokedTokens(Mutex<HashMap<String, i64>>);

impl RevokedTokens {
    pub(super) fn revoke(&self, jti: String, exp: i64, now: i64, capacity: usize) {
        let mut map = self.0.lock();
        if map.len() >= capacity {
            map.retain(|_, e| *e > now);
        }
        if map.len() < capacity {
            map.insert(jti, exp);
        }
    }

    pub(super) fn contains(&self, jti: &str) -> bool {
        self.0.lock().contains_key(jti)
    }
}

/// A session's state as last read: live sessions are re-read after `live_ttl`; a revoked
/// one never comes back, so it is kept until every access token of it has expired.
struct SessionState {
    user: Option<Uuid>,
    live: bool,
    until: Instant,
}

/// Sessions' states, at most `capacity` of them.
pub(super) struct SessionCache {
    entries: Mutex<HashMap<Uuid, SessionState>>,
    live_ttl: Duration,
    revoked_ttl: Duration,
    capacity: usize,
}

impl SessionCache {
    pub(super) fn new(live_ttl: Duration, revoked_ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            live_ttl,
            revoked_ttl,
            capacity,
        }
    }

    /// Whether the session is live, when known and fresh.
    pub(super) fn get(&self, id: Uuid) -> Option<bool> {
        let entries = self.entries.lock();
        let state = entries.get(&id)?;
        (state.until > Instant::now()).then_some(state.live)
    }

    /// Records a session's state as read from the store (or learnt from the bus).
    pub(super) fn put(&self, id: Uuid, user: Option<Uuid>, live: bool) {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, s| s.until > now);
            if entries.len() >= self.capacity {
                // Live entries go first: they are re-read; a dropped revoked one is too.
                entries.retain(|_, s| !s.live);
                if entries.len() >= self.capacity {
                    entries.clear();
                }
            }
        }
        let ttl = if live {
            self.live_ttl
        } else {
            self.revoked_ttl
        };
        // A revocation is never overwritten by an older "live" read.
        if live && entries.get(&id).is_some_and(|s| !s.live && s.until > now) {
            return;
        }
        entries.insert(
            id,
            SessionState {
                user,
                live,
                until: now + ttl,
            },
        );
    }

    /// Marks every cached session of `user` but `keep` revoked.
    pub(super) fn revoke_user(&self, user: Uuid, keep: Option<Uuid>) {
        let until = Instant::now() + self.revoked_ttl;
        for (id, state) in self.entries.lock().iter_mut() {
            if state.user == Some(user) && Some(*id) != keep {
                state.live = false;
                state.until = until;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_actors::push::outbox::OutboxLimits;
    use warroom_engine::Role;

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::new(OutboxLimits {
            max_frames: 16,
            max_bytes: 1 << 16,
        }))
    }

    fn principal(actor: Actor, session: Option<Uuid>) -> Principal {
        Principal {
            org: None,
            role: Role::User,
            actor,
            via_cookie: false,
            token: Some((Uuid::new_v4().to_string(), 0)),
            session,
        }
    }

    fn live(per_credential: usize, per_ip: usize) -> Arc<LiveSockets> {
        Arc::new(LiveSockets::new(SocketCaps {
            per_credential,
            per_ip,
            exempt: vec!["127.0.0.0/8".parse().unwrap()],
        }))
    }

    #[test]
    fn caps_count_per_address_and_credential_and_free_on_drop() {
        let live = live(2, 3);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let user = Actor::User(Uuid::new_v4());
        let a = live.admit(1, Some(ip), outbox()).unwrap();
        let b = live.admit(2, Some(ip), outbox()).unwrap();
        let c = live.admit(3, Some(ip), outbox()).unwrap();
        assert_eq!(
            live.admit(4, Some(ip), outbox()).err(),
            Some(SocketRefusal::TooManyFromIp(3))
        );
        // Loopback is exempt from the address cap.
        let local: Vec<_> = (10..20)
            .map(|id| live.admit(id, Some("127.0.0.1".parse().unwrap()), outbox()))
            .collect();
        assert!(local.iter().all(Result::is_ok));
        a.authenticate(&principal(user.clone(), None)).unwrap();
        b.authenticate(&principal(user.clone(), None)).unwrap();
        assert_eq!(
            c.authenticate(&principal(user.clone(), None)),
            Err(SocketRefusal::TooManyForCredential(2))
        );
        // A fresh token for the same credential is not a new socket.
        a.authenticate(&principal(user.clone(), None)).unwrap();
        // Services are not capped per credential.
        c.authenticate(&principal(Actor::Service("load".into()), None))
            .unwrap();
        drop(b);
        let _d = live.admit(4, Some(ip), outbox()).unwrap();
        assert_eq!(live.len(), 3 + 10);
    }

    #[test]
    fn revocations_close_exactly_the_sockets_of_their_credential() {
        let live = live(10, 10);
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let key = Uuid::new_v4();
        let boxes: Vec<_> = (0..4).map(|_| outbox()).collect();
        let tickets: Vec<_> = boxes
            .iter()
            .enumerate()
            .map(|(i, o)| live.admit(i as u64, None, Arc::clone(o)).unwrap())
            .collect();
        tickets[0]
            .authenticate(&principal(Actor::User(user), Some(s1)))
            .unwrap();
        tickets[1]
            .authenticate(&principal(Actor::User(user), Some(s2)))
            .unwrap();
        tickets[2]
            .authenticate(&principal(Actor::User(other), None))
            .unwrap();
        tickets[3]
            .authenticate(&principal(Actor::ApiKey(key), None))
            .unwrap();
        assert_eq!(live.close_revoked(&Revocation::Session { id: s1 }), 1);
        assert!(boxes[0].is_closed() && !boxes[1].is_closed());
        let keep = Revocation::UserSessions {
            user,
            keep: Some(s2),
        };
        assert_eq!(live.close_revoked(&keep), 1, "only s1, already closing");
        assert!(!boxes[1].is_closed());
        let role_change = Revocation::User {
            id: other,
            deactivated: false,
        };
        assert_eq!(live.close_revoked(&role_change), 0);
        let deactivation = Revocation::User {
            id: other,
            deactivated: true,
        };
        assert_eq!(live.close_revoked(&deactivation), 1);
        assert_eq!(live.close_revoked(&Revocation::ApiKey { id: key }), 1);
        assert!(boxes[2].is_closed() && boxes[3].is_closed() && !boxes[1].is_closed());
    }

    #[test]
    fn a_revoked_session_is_not_made_live_again_by_an_older_read() {
        let cache = SessionCache::new(Duration::from_secs(5), Duration::from_secs(60), 10);
        let (user, s1, s2) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        cache.put(s1, Some(user), true);
        cache.put(s2, Some(user), true);
        assert_eq!(cache.get(s1), Some(true));
        cache.revoke_user(user, Some(s2));
        assert_eq!(cache.get(s1), Some(false));
        assert_eq!(cache.get(s2), Some(true));
        cache.put(s1, Some(user), true);
        assert_eq!(cache.get(s1), Some(false));
        assert_eq!(cache.get(Uuid::new_v4()), None);
    }

    #[test]
    fn revocations_travel_as_tagged_json() {
        let r = Revocation::UserSessions {
            user: Uuid::nil(),
            keep: None,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""kind":"user_sessions""#), "{text}");
        assert_eq!(serde_json::from_str::<Revocation>(&text).unwrap(), r);
    }
}
