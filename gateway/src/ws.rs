//! WebSocket push at `/api/v1/ws` (fastwebsockets), one session actor per socket.
//!
//! A socket has three parts: the **session actor** (ractor) holding the subscription,
//! the heartbeat and the idle check; a **reader** that parses client frames with
//! fastwebsockets and forwards commands to the actor; and a **writer** that drains the
//! socket's [`Outbox`] and writes the organisation's pre-encoded frames with one
//! vectored write per batch. The organisation actor pushes into the outbox directly, so
//! the push path never goes through the session actor's (unbounded) mailbox.
//!
//! Protocol: `docs/protocol.md`.

use std::io::IoSlice;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fastwebsockets::{upgrade::IncomingUpgrade, Frame, OpCode, Role, WebSocketError};
use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::Deserialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use warroom_actors::frame::{self, EncodedFrame, FrameClass};
use warroom_actors::org::{OrgMsg, SubscribeRequest};
use warroom_actors::outbox::{Outbox, OutboxLimits};
use warroom_actors::runtime::Runtime;
use warroom_engine::wire::{events, Channel, ClientCommand, ErrorData};
use warroom_engine::OrgId;

use crate::auth::permission::Permission;
use crate::auth::{Auth, Principal};
use crate::error::ApiError;
use crate::rest::ApiQuery;
use crate::AppState;

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
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    ApiQuery(params): ApiQuery<ConnectParams>,
    upgrade: Result<IncomingUpgrade, StatusCode>,
) -> Result<Response, ApiError> {
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
                org,
                channels,
                last_seq: params.last_seq,
                epoch: params.epoch,
            })
        }
        None => None,
    };
    let (response, upgraded) = upgrade
        .upgrade()
        .map_err(|e| ApiError::bad_request("websocket_handshake", e.to_string()))?;
    let runtime = Arc::clone(&state.runtime);
    let auth = Arc::clone(&state.auth);
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        match upgraded.await {
            Ok(ws) => run_session(runtime, auth, principal, ws, initial, shutdown).await,
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
        bytes: frame::encode(event, &OrgId::new(org), 0, chrono::Utc::now(), None, data),
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

/// Shared between the reader, the writer and the actor of one socket.
struct SocketShared {
    outbox: Arc<Outbox>,
    /// Milliseconds since `opened` of the last frame from the client.
    last_seen_ms: AtomicI64,
    opened: Instant,
    /// The subscribed organisation (for gap frames).
    org: Mutex<Option<OrgId>>,
}

impl SocketShared {
    fn touch(&self) {
        self.last_seen_ms
            .store(self.opened.elapsed().as_millis() as i64, Ordering::Relaxed);
    }
}

async fn run_session(
    runtime: Arc<Runtime>,
    auth: Arc<Auth>,
    principal: Option<Principal>,
    ws: fastwebsockets::WebSocket<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    initial: Option<ClientCommand>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let push = runtime.config().push.clone();
    let shared = Arc::new(SocketShared {
        outbox: Arc::new(Outbox::new(OutboxLimits {
            max_frames: push.socket_queue_frames,
            max_bytes: push.socket_queue_bytes,
        })),
        last_seen_ms: AtomicI64::new(0),
        opened: Instant::now(),
        org: Mutex::new(None),
    });
    let (read, write) = tokio::io::split(ws.into_inner());
    // Reading uses fastwebsockets' parser; writing bypasses it on purpose: frames are
    // already complete WebSocket frames shared by every socket of the organisation.
    let (mut reader, _) =
        fastwebsockets::after_handshake_split(read, tokio::io::sink(), Role::Server);
    reader.set_max_message_size(MAX_CLIENT_MESSAGE);
    reader.set_auto_close(true);
    reader.set_auto_pong(true);

    let session_id = runtime.next_session_id();
    let args = SessionArgs {
        session_id,
        runtime: Arc::clone(&runtime),
        shared: Arc::clone(&shared),
        auth,
        principal,
    };
    let Ok((actor, actor_done)) = Actor::spawn(None, SessionActor, args).await else {
        return;
    };
    if let Some(command) = initial {
        let _ = actor.send_message(SessionMsg::Command(command));
    }
    let mut writer = tokio::spawn(write_loop(write, Arc::clone(&shared)));

    let mut obligated = |frame: Frame<'_>| {
        // Pongs and close replies go through the outbox like everything else, so a
        // socket has exactly one writer.
        let mut buf = Vec::new();
        let mut frame = frame;
        let len = frame.write(&mut buf).len();
        buf.truncate(len);
        shared.outbox.push(raw_frame(Bytes::from(buf)));
        std::future::ready(Ok::<(), std::io::Error>(()))
    };
    loop {
        tokio::select! {
            frame = reader.read_frame(&mut obligated) => {
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(WebSocketError::ConnectionClosed | WebSocketError::UnexpectedEOF) => break,
                    Err(e) => {
                        tracing::debug!(session_id, error = %e, "websocket read error");
                        shared.outbox.close(CLOSE_PROTOCOL, "protocol error");
                        break;
                    }
                };
                shared.touch();
                match frame.opcode {
                    OpCode::Text => {
                        let message = match serde_json::from_slice::<ClientCommand>(&frame.payload) {
                            Ok(command) => SessionMsg::Command(command),
                            Err(e) => SessionMsg::Invalid(e.to_string()),
                        };
                        if actor.send_message(message).is_err() {
                            break;
                        }
                    }
                    OpCode::Binary => {
                        let _ = actor.send_message(SessionMsg::Invalid("binary frames are not part of the protocol".into()));
                    }
                    OpCode::Close => break,
                    _ => {}
                }
            }
            _ = &mut writer => break,
            _ = shutdown.changed() => {
                shared.outbox.close(CLOSE_GOING_AWAY, "server shutting down");
                break;
            }
        }
    }
    actor.stop(None);
    let _ = actor_done.await;
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
            frames.push(frame::encode_gap(&org, gap, chrono::Utc::now()));
        }
        frames.extend(batch.frames);
        if let Some(close) = &batch.close {
            frames.push(frame::ws_close_frame(close.code, &close.reason));
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

/// The session actor of one socket.
pub struct SessionActor;

/// Arguments of a session actor.
pub struct SessionArgs {
    session_id: u64,
    runtime: Arc<Runtime>,
    shared: Arc<SocketShared>,
    auth: Arc<Auth>,
    /// Set by the upgrade's credential, or later by an `auth` command.
    principal: Option<Principal>,
}

/// Messages of a session actor.
pub enum SessionMsg {
    /// A parsed client command.
    Command(ClientCommand),
    /// A client message that did not parse.
    Invalid(String),
    /// Heartbeat and idle check.
    Tick,
}

/// State of a session actor.
pub struct SessionState {
    args: SessionArgs,
    subscribed: Option<OrgId>,
    heartbeat: Duration,
    idle_timeout: Duration,
    subscribe_timeout: Duration,
    last_ping: Instant,
}

impl SessionState {
    fn error(&self, code: &str, message: String) {
        let org = self
            .subscribed
            .as_ref()
            .map_or("", |o| o.as_str())
            .to_owned();
        self.args.shared.outbox.push(control_frame(
            &org,
            events::ERROR,
            &ErrorData {
                code: code.to_owned(),
                message,
            },
        ));
    }

    fn refuse_unauthenticated(&self, message: String) {
        self.error("unauthenticated", message);
        self.args
            .shared
            .outbox
            .close(CLOSE_UNAUTHENTICATED, "unauthenticated");
    }

    async fn authenticate(&mut self, token: String) {
        if self.args.principal.is_some() {
            self.error(
                "already_authenticated",
                "this socket is already authenticated".into(),
            );
            return;
        }
        match self.args.auth.authenticate(&token, false).await {
            Ok(principal) => {
                let org = principal.org.as_ref().map_or("", |o| o.as_str()).to_owned();
                self.args.shared.outbox.push(control_frame(
                    &org,
                    events::AUTHENTICATED,
                    &serde_json::json!({ "org": principal.org, "role": principal.role }),
                ));
                self.args.principal = Some(principal);
            }
            Err(e) => self.refuse_unauthenticated(e.message),
        }
    }

    async fn subscribe(
        &mut self,
        org: String,
        channels: Option<Vec<Channel>>,
        last_seq: Option<u64>,
        epoch: Option<String>,
    ) {
        let runtime = Arc::clone(&self.args.runtime);
        let Some(principal) = &self.args.principal else {
            self.refuse_unauthenticated("authenticate (an `auth` command or a credential on the upgrade) before subscribing".into());
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
                self.args
                    .shared
                    .outbox
                    .close(CLOSE_UNKNOWN_ORG, "unknown organisation");
                return;
            }
        };
        if let Some(previous) = self.subscribed.take() {
            if let Some(actor) = runtime.directory().get(&previous).and_then(|e| e.actor()) {
                let _ = actor.send_message(OrgMsg::Unsubscribe(self.args.session_id));
            }
        }
        *self.args.shared.org.lock() = Some(org.clone());
        let request = SubscribeRequest {
            session_id: self.args.session_id,
            outbox: Arc::clone(&self.args.shared.outbox),
            channels: channels.unwrap_or_default(),
            resume: last_seq.map(|seq| (epoch, seq)),
        };
        let timeout = runtime.config().server.actor_call_timeout;
        match runtime
            .directory()
            .call(&org, |reply| OrgMsg::Subscribe(request, reply), timeout)
            .await
        {
            Ok(_) => self.subscribed = Some(org),
            Err(e) => self.error("org_unavailable", e.to_string()),
        }
    }
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let push = &args.runtime.config().push;
        let (heartbeat, idle_timeout, subscribe_timeout) =
            (push.heartbeat, push.idle_timeout, push.subscribe_timeout);
        // Tick often enough to enforce the shortest of the timers within a second.
        let tick = heartbeat
            .min(idle_timeout)
            .min(subscribe_timeout)
            .min(Duration::from_secs(1));
        myself.send_interval(tick, || SessionMsg::Tick);
        Ok(SessionState {
            args,
            subscribed: None,
            heartbeat,
            idle_timeout,
            subscribe_timeout,
            last_ping: Instant::now(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SessionMsg>,
        message: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Command(ClientCommand::Subscribe {
                org,
                channels,
                last_seq,
                epoch,
            }) => state.subscribe(org, channels, last_seq, epoch).await,
            SessionMsg::Command(ClientCommand::Auth { token }) => state.authenticate(token).await,
            SessionMsg::Command(ClientCommand::Ping) => {
                let org = state
                    .subscribed
                    .as_ref()
                    .map_or("", |o| o.as_str())
                    .to_owned();
                state.args.shared.outbox.push(control_frame(
                    &org,
                    events::PONG,
                    &serde_json::json!({}),
                ));
            }
            SessionMsg::Invalid(reason) => state.error("invalid_command", reason),
            SessionMsg::Tick => {
                let shared = &state.args.shared;
                let now_ms = shared.opened.elapsed().as_millis() as i64;
                let idle_ms = now_ms - shared.last_seen_ms.load(Ordering::Relaxed);
                if state.subscribed.is_none() && shared.opened.elapsed() >= state.subscribe_timeout
                {
                    shared
                        .outbox
                        .close(CLOSE_NO_SUBSCRIPTION, "no subscription");
                } else if idle_ms >= state.idle_timeout.as_millis() as i64 {
                    shared.outbox.close(CLOSE_IDLE, "idle timeout");
                } else if state.last_ping.elapsed() >= state.heartbeat {
                    state.last_ping = Instant::now();
                    shared.outbox.push(raw_frame(frame::ws_ping_frame()));
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(org) = state.subscribed.take() {
            if let Some(actor) = state
                .args
                .runtime
                .directory()
                .get(&org)
                .and_then(|e| e.actor())
            {
                let _ = actor.send_message(OrgMsg::Unsubscribe(state.args.session_id));
            }
        }
        Ok(())
    }
}
