//! A restarting supervisor for ractor actors.
//!
//! ractor leaves restarts to the supervisor's `handle_supervisor_evt` (and by default a
//! supervisor stops when a linked child dies: ractor #107). This one restarts a child that
//! failed or stopped unexpectedly after an exponential backoff with jitter (1 s doubling
//! to 60 s, reset after the child has run for 60 s), and gives up on a child that failed
//! more than `max_restarts` times within `restart_window`: the child is then marked
//! `failed` in the shared [`ChildRegistry`] (health shows it) and left stopped, while every
//! other child keeps running.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use serde::Serialize;

/// Starts (or restarts) a child linked to the given supervisor cell.
pub type StartFn = Arc<
    dyn Fn(ActorCell) -> Pin<Box<dyn Future<Output = Result<ActorCell, String>> + Send>>
        + Send
        + Sync,
>;

/// How to start a child, and its name.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique name, e.g. `source:harbor-city:mentions`.
    pub name: String,
    /// The start function.
    pub start: StartFn,
}

/// Restart limits.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// First backoff.
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// Failures tolerated within `restart_window` before giving up.
    pub max_restarts: usize,
    /// The window for counting failures.
    pub restart_window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_restarts: 10,
            restart_window: Duration::from_secs(600),
        }
    }
}

/// The state of a supervised child, as health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildState {
    /// Running.
    Running,
    /// Failed; a restart is scheduled.
    Restarting,
    /// Failed too often; given up.
    Failed,
}

/// What health knows about one child.
#[derive(Debug, Clone, Serialize)]
pub struct ChildStatus {
    /// State.
    pub state: ChildState,
    /// Restarts so far.
    pub restarts: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Since when it is in this state.
    pub since: DateTime<Utc>,
}

/// Child statuses shared with health, by child name.
#[derive(Debug, Default)]
pub struct ChildRegistry {
    children: RwLock<BTreeMap<String, ChildStatus>>,
    /// The running actor of each child (actors are not named: ractor's registry is
    /// process-wide, and several engines may share a process in tests).
    cells: RwLock<HashMap<String, ActorCell>>,
    shutting_down: AtomicBool,
}

impl ChildRegistry {
    /// A copy of every child's status.
    pub fn snapshot(&self) -> BTreeMap<String, ChildStatus> {
        self.children.read().clone()
    }

    fn set(&self, name: &str, state: ChildState, error: Option<String>) {
        let mut children = self.children.write();
        let entry = children.entry(name.to_owned()).or_insert(ChildStatus {
            state,
            restarts: 0,
            last_error: None,
            since: Utc::now(),
        });
        if entry.state != state {
            entry.since = Utc::now();
        }
        if state == ChildState::Restarting {
            entry.restarts += 1;
        }
        entry.state = state;
        if error.is_some() {
            entry.last_error = error;
        }
    }

    /// The running actor of a child.
    pub fn cell(&self, name: &str) -> Option<ActorCell> {
        self.cells.read().get(name).cloned()
    }

    /// Marks the tree as stopping, so children ending now are not restarted.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    fn forget(&self, name: &str) -> Option<ActorCell> {
        self.children.write().remove(name);
        self.cells.write().remove(name)
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

/// Messages of the supervisor.
pub enum SupervisorMsg {
    /// Start and supervise a child.
    Start(ChildSpec, RpcReplyPort<Result<(), String>>),
    /// (internal) Restart a child after its backoff.
    Restart(String),
    /// Stop a child on purpose and forget it (no restart); answers whether it existed.
    Stop(String, RpcReplyPort<bool>),
}

/// The supervisor actor.
pub struct Supervisor;

/// Arguments of the supervisor.
pub struct SupervisorArgs {
    /// Limits.
    pub policy: RestartPolicy,
    /// Where statuses are published.
    pub registry: Arc<ChildRegistry>,
}

struct Child {
    spec: ChildSpec,
    started_at: Instant,
    failures: VecDeque<Instant>,
    backoff: Duration,
}

/// Supervisor state.
pub struct SupervisorState {
    policy: RestartPolicy,
    registry: Arc<ChildRegistry>,
    children: HashMap<String, Child>,
    by_id: HashMap<ActorId, String>,
}

impl SupervisorState {
    async fn start_child(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        name: &str,
    ) -> Result<(), String> {
        let Some(child) = self.children.get_mut(name) else {
            return Err(format!("unknown child {name}"));
        };
        match (child.spec.start)(myself.get_cell()).await {
            Ok(cell) => {
                child.started_at = Instant::now();
                self.by_id.insert(cell.get_id(), name.to_owned());
                self.registry.cells.write().insert(name.to_owned(), cell);
                self.registry.set(name, ChildState::Running, None);
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Records a failure and schedules a restart, or gives up.
    fn child_down(&mut self, myself: &ActorRef<SupervisorMsg>, name: &str, error: String) {
        let policy = self.policy;
        let Some(child) = self.children.get_mut(name) else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(child.started_at) > Duration::from_secs(60) {
            child.backoff = policy.initial_backoff;
        }
        child.failures.push_back(now);
        while child
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.restart_window)
        {
            child.failures.pop_front();
        }
        if child.failures.len() > policy.max_restarts {
            tracing::error!(child = name, %error, "restart budget exhausted; child left stopped");
            self.registry.set(name, ChildState::Failed, Some(error));
            return;
        }
        // Jitter (±25 %) so that children failing together do not restart in lockstep.
        let jitter = 0.75 + rand::random::<f64>() * 0.5;
        let delay = child.backoff.mul_f64(jitter);
        child.backoff = (child.backoff * 2).min(policy.max_backoff);
        tracing::warn!(child = name, %error, delay_ms = delay.as_millis() as u64, "child failed; restarting");
        self.registry.set(name, ChildState::Restarting, Some(error));
        let name = name.to_owned();
        myself.send_after(delay, move || SupervisorMsg::Restart(name));
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            policy: args.policy,
            registry: args.registry,
            children: HashMap::new(),
            by_id: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Start(spec, reply) => {
                let name = spec.name.clone();
                state.children.insert(
                    name.clone(),
                    Child {
                        spec,
                        started_at: Instant::now(),
                        failures: VecDeque::new(),
                        backoff: state.policy.initial_backoff,
                    },
                );
                let result = state.start_child(&myself, &name).await;
                if result.is_err() {
                    state.children.remove(&name);
                }
                let _ = reply.send(result);
            }
            SupervisorMsg::Stop(name, reply) => {
                let existed = state.children.remove(&name).is_some();
                state.by_id.retain(|_, child| *child != name);
                // Forgotten before it stops, so its termination is not taken for a failure
                // (and a restart pending from an earlier failure finds no child).
                if let Some(cell) = state.registry.forget(&name) {
                    cell.stop(Some("stopped by the supervisor".to_owned()));
                }
                let _ = reply.send(existed);
            }
            SupervisorMsg::Restart(name) => {
                if state.registry.is_shutting_down() {
                    return Ok(());
                }
                if let Err(error) = state.start_child(&myself, &name).await {
                    // A failing start counts as a failure like any other.
                    state.child_down(&myself, &name, error);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, error) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                reason.unwrap_or_else(|| "stopped unexpectedly".to_owned()),
            ),
            _ => return Ok(()),
        };
        let Some(name) = state.by_id.remove(&cell.get_id()) else {
            return Ok(());
        };
        if state.registry.is_shutting_down() {
            return Ok(());
        }
        state.child_down(&myself, &name, error);
        Ok(())
    }
}
