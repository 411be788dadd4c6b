//! WebSocket push at `/api/v1/ws`: fastwebsockets for the handshake, then one task per
//! socket.
//!
//! A socket has two tasks: the **session** task reads client frames (with the
//! buffer-less [`reader::FrameReader`]) and keeps the subscription, the heartbeat and the
//! idle and subscribe timers; the **writer** task drains the socket's [`Outbox`] and
//! writes the organisation's pre-encoded frames with one vectored write per batch. The
//! organisation actor pushes into the outbox directly, so the push path never waits on the
//! session task.
//!
//! Protocol: `docs/protocol.md`.

mod reader;

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fastwebsockets::upgrade::IncomingUpgrade;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use warroom_actors::push::org::{OrgMsg, SubscribeRequest};
use warroom_actors::push::outbox::{self, EncodedFrame, FrameClass, Outbox, OutboxLimits};
use warroom_actors::runtime::Runtime;
use warroom_engine::wire::{events, Channel, ClientCommand, ErrorData};
use warroom_engine::OrgId;

use crate::auth::permission::Permission;
use crate::auth::revocation::{SocketRefusal, SocketTicket};
use crate::auth::{Auth, Principal};
use crate::error::ApiError;
use crate::extract::{ApiQuery, RequestMeta};
use crate::state::AppState;
use reader::{FrameReader, Incoming};

/// Close code: normal closure (the answer to a client's close).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the client sent something the protocol does not allow.
pub const CLOSE_PROTOCOL: u16 = 4000;
/// Close code: the socket did not authenticate, or its credential is invalid.
pub const CLOSE_UNAUTHENTICATED: u16 = 4001;
/// Close code: no frame from the client within the idle timeout.
pub const CLOSE_IDLE: u16 = 4002;
/// Close code: no subscription within the subscribe timeout.
pub const CLOSE_NO_SUBSCRIPTION: u16 = 4003;
/// Close code: the organisation does not exist, or is not the credential's.
pub const CLOSE_UNKNOWN_ORG: u16 = 4004;
/// Close code: the access token the socket authenticated with expired, and no fresh one
/// came in an `auth` frame. The client reconnects with a fresh credential (and resumes).
pub const CLOSE_CREDENTIAL_EXPIRED: u16 = 4005;
/// Close code: the credential already has `push.max_sockets_per_credential` sockets open.
pub const CLOSE_TOO_MANY_SOCKETS: u16 = 4029;
/// Close code: the server is shutting down.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Largest client message accepted (commands are tiny).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Bytes the writer takes from the outbox per vectored write.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Subscription given directly in the URL: `/api/v1/ws?org=…&last_seq=…&epoch=…&channels=a,b`.
#[derive(Debug, Deserialize)]
pub struct ConnectParams {
    org: Option<String>,
    last_seq: Option<u64>,
    epoch: Option<String>,
    channels: Option<String>,
}

/// `GET /api/v1/ws`: upgrades to a WebSocket session. A credential on the upgrade
/// (`Authorization`, `X-API-Key` or the access cookie) authenticates the socket at once;
/// an invalid one is refused with 401 before upgrading. Without one, the first frame
/// must be an `auth` command.
///
/// Sockets are capped per client address and per credential (`[push]`): one more is
/// refused with 429 before upgrading.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    meta: RequestMeta,
    headers: axum::http::HeaderMap,
    ApiQuery(params): ApiQuery<ConnectParams>,
    upgrade: Result<IncomingUpgrade, StatusCode>,
) -> Result<Response, ApiError> {
    let credential = Auth::credential(&headers).map(|(credential, _)| credential);
    let principal = state.auth.authenticate_headers(&headers).await?;
    if principal.is_none() && params.org.is_some() {
        return Err(ApiError::unauthorized(
            "unauthenticated",
            "subscribing in the URL needs a credential on the upgrade (Authorization header or cookie)",
        ));
    }
    let upgrade = upgrade.map_err(|_| {
        ApiError::bad_request(
            "websocket_required",
            "this endpoint speaks WebSocket (RFC 6455, version 13)",
        )
    })?;
    let initial = match params.org {
        Some(org) => {
            let channels = match params.channels.as_deref() {
                None | Some("") => None,
                Some(list) => Some(
                    parse_channels(list)
                        .map_err(|e| ApiError::bad_request("invalid_channels", e))?,
                ),
            };
            Some(ClientCommand::Subscribe {
                org: Some(org),
                channels,
                last_seq: params.last_seq,
                epoch: params.epoch,
            })
        }
        None => None,
    };
    let runtime = Arc::clone(&state.runtime);
    let push = &runtime.config().push;
    let outbox = Arc::new(Outbox::new(OutboxLimits {
        max_frames: push.socket_queue_frames,
        max_bytes: push.socket_queue_bytes,
    }));
    let id = runtime.next_session_id();
    let too_many = |refusal: SocketRefusal| {
        ApiError::too_many_requests(
            "too_many_sockets",
            refusal.message(),
            Duration::from_secs(1),
        )
    };
    let ticket = state
        .auth
        .sockets()
        .admit(id, meta.ip, Arc::clone(&outbox))
        .map_err(too_many)?;
    if let Some(principal) = &principal {
        ticket.authenticate(principal).map_err(too_many)?;
    }
    let (response, upgraded) = upgrade
        .upgrade()
        .map_err(|e| ApiError::bad_request("websocket_handshake", e.to_string()))?;
    let auth = Arc::clone(&state.auth);
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        match upgraded.await {
            Ok(ws) => {
                let identity = Identity::new(auth, principal, credential, ticket);
                let stream = ws.into_inner();
                run_session(runtime, id, outbox, identity, stream, initial, shutdown).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    Ok(response.into_response())
}

fn parse_channels(list: &str) -> Result<Vec<Channel>, String> {
    list.split(',')
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.trim().to_owned()))
                .map_err(|_| format!("unknown channel {name:?}; channels are dashboard, mentions, crisis, system"))
        })
        .collect()
}

fn control_frame<T: serde::Serialize>(org: &str, event: &str, data: &T) -> EncodedFrame {
    EncodedFrame {
        seq: 0,
        channel: None,
        class: FrameClass::Critical,
        bytes: outbox::encode(event, &OrgId::new(org), 0, chrono::Utc::now(), None, data),
    }
}

fn raw_frame(bytes: Bytes) -> EncodedFrame {
    EncodedFrame {
        seq: 0,
        channel: None,
        class: FrameClass::Critical,
        bytes,
    }
}

/// Shared between the session task and the writer task of one socket.
struct SocketShared {
    outbox: Arc<Outbox>,
    /// The subscribed organisation (for gap frames).
    org: Mutex<Option<OrgId>>,
}

/// Who is on a socket: set by the upgrade's credential, or later by an `auth` command
/// (which may also bring a fresh token for the same credential).
struct Identity {
    auth: Arc<Auth>,
    principal: Option<Principal>,
    /// The credential itself, re-checked when the socket subscribes again.
    credential: Option<String>,
    /// When the access token expires (with the configured leeway); none for API keys.
    expires: Option<Instant>,
    /// This socket's place among the node's live sockets (caps, revocation).
    ticket: SocketTicket,
}

impl Identity {
    fn new(
        auth: Arc<Auth>,
        principal: Option<Principal>,
        credential: Option<String>,
        ticket: SocketTicket,
    ) -> Self {
        let mut identity = Self {
            auth,
            principal: None,
            credential: None,
            expires: None,
            ticket,
        };
        if let (Some(principal), Some(credential)) = (principal, credential) {
            identity.set(principal, credential);
        }
        identity
    }

    /// Takes `principal` (authenticated with `credential`) as the socket's identity.
    fn set(&mut self, principal: Principal, credential: String) {
        let leeway = self.auth.config().leeway;
        self.expires = principal.token.as_ref().map(|(_, exp)| {
            let left = exp.saturating_sub(chrono::Utc::now().timestamp());
            Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0)) + leeway
        });
        self.principal = Some(principal);
        self.credential = Some(credential);
    }
}

/// Why the session loop stops.
enum Flow {
    Continue,
    Stop,
}

/// Runs one socket until it closes: reads and answers client frames, keeps the heartbeat
/// and the idle and subscribe timers, while a writer task drains the outbox.
async fn run_session(
    runtime: Arc<Runtime>,
    id: u64,
    outbox: Arc<Outbox>,
    identity: Identity,
    stream: TokioIo<hyper::upgrade::Upgraded>,
    initial: Option<ClientCommand>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    // Counted open until the session ends, whichever way.
    let _open = runtime.metrics().socket_opened();
    let push = runtime.config().push.clone();
    let shared = Arc::new(SocketShared {
        outbox,
        org: Mutex::new(None),
    });
    // The handshake is fastwebsockets'; from here on frames are read by `FrameReader` and
    // written pre-encoded, so the socket keeps no fastwebsockets state.
    let (mut read_half, write_half) = tokio::io::split(stream);
    let mut writer = tokio::spawn(write_loop(write_half, Arc::clone(&shared)));
    let now = Instant::now();
    let mut session = Session {
        id,
        runtime,
        identity,
        shared: Arc::clone(&shared),
        subscribed: None,
        subscribes: 0,
        counted: None,
        heartbeat: push.heartbeat,
        idle_timeout: push.idle_timeout,
        subscribe_timeout: push.subscribe_timeout,
        opened: now,
        last_seen: now,
        last_ping: now,
    };
    let mut reader = FrameReader::new(MAX_CLIENT_MESSAGE);
    if let Some(command) = initial {
        session.command(command).await;
    }
    let timer = tokio::time::sleep_until(session.next_deadline().into());
    tokio::pin!(timer);
    loop {
        if let Flow::Stop = session.drain(&mut reader).await {
            break;
        }
        tokio::select! {
            read = read_some(&mut read_half, &mut reader) => {
                if read.is_err() {
                    break;
                }
                session.last_seen = Instant::now();
            }
            () = &mut timer => {
                if let Flow::Stop = session.on_timer() {
                    break;
                }
                timer.as_mut().reset(session.next_deadline().into());
            }
            _ = &mut writer => break,
            _ = shutdown.changed() => {
                shared.outbox.close(CLOSE_GOING_AWAY, "server shutting down");
                break;
            }
        }
    }
    session.unsubscribe();
    // Let the writer flush a pending close frame, briefly.
    if !writer.is_finished() {
        shared.outbox.close(CLOSE_GOING_AWAY, "closing");
        if tokio::time::timeout(Duration::from_secs(2), &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
}

/// Waits for bytes from the client and feeds one chunk of them to `reader`; an error at
/// end of stream.
///
/// The chunk buffer exists only during a poll (`AsyncRead` takes nothing on `Pending`), so
/// an idle socket holds no read buffer. Cancel-safe: bytes are consumed only when ready.
async fn read_some<R: AsyncRead + Unpin>(
    socket: &mut R,
    reader: &mut FrameReader,
) -> std::io::Result<()> {
    std::future::poll_fn(|cx| {
        let mut chunk = [0u8; 4096];
        let mut buf = ReadBuf::new(&mut chunk);
        match Pin::new(&mut *socket).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                Poll::Ready(Err(std::io::ErrorKind::UnexpectedEof.into()))
            }
            Poll::Ready(Ok(())) => {
                reader.feed(buf.filled());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Writes every frame of `frames` to `out`, handling partial vectored writes.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    out: &mut W,
    frames: &[Bytes],
) -> std::io::Result<()> {
    let mut index = 0;
    let mut offset = 0;
    while index < frames.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&frames[index][offset..])
            .chain(frames[index + 1..].iter().map(|b| &b[..]))
            .take(64)
            .map(IoSlice::new)
            .collect();
        let mut written = out.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while index < frames.len() && written > 0 {
            let left = frames[index].len() - offset;
            if written >= left {
                written -= left;
                index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
    Ok(())
}

async fn write_loop<W: AsyncWrite + Unpin>(mut out: W, shared: Arc<SocketShared>) {
    let mut frames: Vec<Bytes> = Vec::new();
    loop {
        let batch = shared.outbox.take(WRITE_BATCH_BYTES);
        if batch.frames.is_empty() && batch.gap.is_none() && batch.close.is_none() {
            shared.outbox.notified().await;
            continue;
        }
        frames.clear();
        if let Some(gap) = &batch.gap {
            let org = shared.org.lock().clone().unwrap_or_else(|| OrgId::new(""));
            frames.push(outbox::encode_gap(&org, gap, chrono::Utc::now()));
        }
        frames.extend(batch.frames);
        if let Some(close) = &batch.close {
            frames.push(outbox::ws_close_frame(close.code, &close.reason));
        }
        if write_all_vectored(&mut out, &frames).await.is_err() || out.flush().await.is_err() {
            return;
        }
        if batch.close.is_some() {
            let _ = out.shutdown().await;
            return;
        }
    }
}

/// The state of one socket's session: its subscription and timers.
///
/// A plain struct driven by the socket's task rather than an actor: it needs no mailbox
/// of its own (the organisation actor pushes into the outbox directly), and an actor's
/// channels and interval task cost about 5 KiB per socket, a third of the memory budget
/// of an idle socket.
struct Session {
    id: u64,
    runtime: Arc<Runtime>,
    identity: Identity,
    shared: Arc<SocketShared>,
    subscribed: Option<OrgId>,
    /// Subscribe commands handled so far (the second and later re-check the credential).
    subscribes: u32,
    /// Counts this socket in its organisation's `open_sockets` while subscribed.
    counted: Option<warroom_actors::push::directory::SocketCount>,
    heartbeat: Duration,
    idle_timeout: Duration,
    subscribe_timeout: Duration,
    opened: Instant,
    /// Last frame of any kind from the client.
    last_seen: Instant,
    last_ping: Instant,
}

impl Session {
    /// Handles every complete frame the reader holds.
    async fn drain(&mut self, reader: &mut FrameReader) -> Flow {
        loop {
            match reader.next_frame() {
                Ok(None) => return Flow::Continue,
                Ok(Some(Incoming::Text(payload))) => {
                    match serde_json::from_slice::<ClientCommand>(&payload) {
                        Ok(command) => self.command(command).await,
                        Err(e) => self.error("invalid_command", e.to_string()),
                    }
                }
                Ok(Some(Incoming::Binary(_))) => self.error(
                    "invalid_command",
                    "binary frames are not part of the protocol".to_owned(),
                ),
                Ok(Some(Incoming::Ping(payload))) => {
                    self.shared
                        .outbox
                        .push(raw_frame(outbox::ws_pong_frame(&payload)));
                }
                Ok(Some(Incoming::Pong)) => {}
                Ok(Some(Incoming::Close(_))) => {
                    // Echo a normal close (RFC 6455 section 5.5.1); the writer then ends.
                    self.shared.outbox.close(CLOSE_NORMAL, "");
                    return Flow::Stop;
                }
                Err(e) => {
                    tracing::debug!(session_id = self.id, error = %e, "websocket read error");
                    self.shared.outbox.close(CLOSE_PROTOCOL, "protocol error");
                    return Flow::Stop;
                }
            }
        }
    }

    async fn command(&mut self, command: ClientCommand) {
        match command {
            ClientCommand::Subscribe {
                org,
                channels,
                last_seq,
                epoch,
            } => self.subscribe(org, channels, last_seq, epoch).await,
            ClientCommand::Auth { token } => self.authenticate(token).await,
            ClientCommand::Ping => {
                let org = self.org_name();
                self.shared
                    .outbox
                    .push(control_frame(&org, events::PONG, &serde_json::json!({})));
            }
        }
    }

    /// The next instant a timer needs attention.
    fn next_deadline(&self) -> Instant {
        let mut next = (self.last_seen + self.idle_timeout).min(self.last_ping + self.heartbeat);
        if self.subscribed.is_none() {
            next = next.min(self.opened + self.subscribe_timeout);
        }
        if let Some(expires) = self.identity.expires {
            next = next.min(expires);
        }
        next
    }

    /// Credential expiry, subscribe timeout, idle timeout and heartbeat.
    fn on_timer(&mut self) -> Flow {
        let outbox = &self.shared.outbox;
        if self
            .identity
            .expires
            .is_some_and(|expires| expires <= Instant::now())
        {
            self.error(
                "token_expired",
                "the access token expired; send a fresh one in an `auth` frame before it does"
                    .into(),
            );
            self.shared
                .outbox
                .close(CLOSE_CREDENTIAL_EXPIRED, "credential expired");
            return Flow::Stop;
        }
        if self.subscribed.is_none() && self.opened.elapsed() >= self.subscribe_timeout {
            outbox.close(CLOSE_NO_SUBSCRIPTION, "no subscription");
            return Flow::Stop;
        }
        if self.last_seen.elapsed() >= self.idle_timeout {
            outbox.close(CLOSE_IDLE, "idle timeout");
            return Flow::Stop;
        }
        if self.last_ping.elapsed() >= self.heartbeat {
            self.last_ping = Instant::now();
            outbox.push(raw_frame(outbox::ws_ping_frame()));
        }
        Flow::Continue
    }

    fn org_name(&self) -> String {
        self.subscribed
            .as_ref()
            .map_or("", |o| o.as_str())
            .to_owned()
    }

    fn error(&self, code: &str, message: String) {
        self.shared.outbox.push(control_frame(
            &self.org_name(),
            events::ERROR,
            &ErrorData {
                code: code.to_owned(),
                message,
            },
        ));
    }

    /// Leaves the current organisation's fan-out, if any.
    fn unsubscribe(&mut self) {
        self.counted = None;
        if let Some(previous) = self.subscribed.take() {
            if let Some(actor) = self
                .runtime
                .directory()
                .get(&previous)
                .and_then(|e| e.actor())
            {
                let _ = actor.send_message(OrgMsg::Unsubscribe(self.id));
            }
        }
    }

    fn refuse_unauthenticated(&self, message: String) {
        self.error("unauthenticated", message);
        self.shared
            .outbox
            .close(CLOSE_UNAUTHENTICATED, "unauthenticated");
    }

    /// An `auth` frame: the first credential of a socket opened without one, or a fresh
    /// access token for the same user (before the current one expires), which moves the
    /// socket's expiry.
    async fn authenticate(&mut self, token: String) {
        let principal = match self.identity.auth.authenticate(&token, false).await {
            Ok(principal) => principal,
            Err(e) => return self.refuse_unauthenticated(e.message),
        };
        if let Some(current) = &self.identity.principal {
            if current.actor != principal.actor || current.org != principal.org {
                return self.refuse_unauthenticated(
                    "a socket keeps the credential it authenticated with; open another socket for another one"
                        .into(),
                );
            }
        }
        if let Err(refusal) = self.identity.ticket.authenticate(&principal) {
            self.error("too_many_sockets", refusal.message());
            self.shared
                .outbox
                .close(CLOSE_TOO_MANY_SOCKETS, "too many sockets");
            return;
        }
        let org = principal.org.as_ref().map_or("", |o| o.as_str()).to_owned();
        let expires_at = principal
            .token
            .as_ref()
            .and_then(|(_, exp)| chrono::DateTime::from_timestamp(*exp, 0));
        self.shared.outbox.push(control_frame(
            &org,
            events::AUTHENTICATED,
            &serde_json::json!({
                "org": principal.org,
                "role": principal.role,
                "expiresAt": expires_at,
            }),
        ));
        self.identity.set(principal, token);
    }

    /// Re-checks the socket's credential (a re-subscribe): revoked, deactivated or
    /// expired credentials close the socket. Returns whether it still holds.
    async fn recheck(&mut self) -> bool {
        let Some(credential) = self.identity.credential.clone() else {
            return self.identity.principal.is_some();
        };
        match self.identity.auth.authenticate(&credential, false).await {
            Ok(principal) => {
                self.identity.principal = Some(principal);
                true
            }
            Err(e) => {
                self.refuse_unauthenticated(e.message);
                false
            }
        }
    }

    async fn subscribe(
        &mut self,
        org: Option<String>,
        channels: Option<Vec<Channel>>,
        last_seq: Option<u64>,
        epoch: Option<String>,
    ) {
        let runtime = Arc::clone(&self.runtime);
        // The credential may have been revoked, or the user's role changed, since the
        // socket authenticated: a second subscribe checks it again.
        if self.subscribes > 0 && !self.recheck().await {
            return;
        }
        self.subscribes += 1;
        let Some(principal) = &self.identity.principal else {
            self.refuse_unauthenticated(
                "authenticate (an `auth` command or a credential on the upgrade) before subscribing"
                    .into(),
            );
            return;
        };
        // Without `org`, the credential's own organisation (none for the platform
        // administrator, who follows no organisation's stream).
        let Some(org) = org.or_else(|| principal.org.as_ref().map(|o| o.as_str().to_owned()))
        else {
            self.error(
                "org_required",
                "this credential belongs to no organisation; name one with `org`".into(),
            );
            self.shared
                .outbox
                .close(CLOSE_UNKNOWN_ORG, "unknown organisation");
            return;
        };
        // Another organisation's channels answer exactly like an unknown organisation.
        let own = principal
            .org
            .as_ref()
            .filter(|_| Permission::Read.allows(principal.role))
            .is_some_and(|own| own.as_str() == org);
        let org = match OrgId::parse(&org) {
            Ok(org) if own && runtime.directory().get(&org).is_some() => org,
            _ => {
                self.error("org_not_found", format!("no organisation {org:?}"));
                self.shared
                    .outbox
                    .close(CLOSE_UNKNOWN_ORG, "unknown organisation");
                return;
            }
        };
        self.unsubscribe();
        *self.shared.org.lock() = Some(org.clone());
        let request = SubscribeRequest {
            session_id: self.id,
            outbox: Arc::clone(&self.shared.outbox),
            channels: channels.unwrap_or_default(),
            resume: last_seq.map(|seq| (epoch, seq)),
        };
        let timeout = runtime.config().server.actor_call_timeout;
        match runtime
            .directory()
            .call(&org, |reply| OrgMsg::Subscribe(request, reply), timeout)
            .await
        {
            Ok(_) => {
                self.counted = runtime.directory().get(&org).map(|e| e.count_socket());
                self.subscribed = Some(org);
            }
            Err(e) => self.error("org_unavailable", e.to_string()),
        }
    }
}
