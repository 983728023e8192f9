//! A supervisor of one child actor per id: it starts a child on demand and restarts one that
//! fails, so the child rebuilds its state from its stream.
//!
//! Key actors, paper bot runners and live bot actors all run under one of these.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use uuid::Uuid;

/// How long a caller waits for the supervisor's reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a child's start arguments from its id.
pub type ChildArgs<A> = Arc<dyn Fn(Uuid) -> <A as Actor>::Arguments + Send + Sync>;

/// Messages of a supervisor whose children take messages `M`.
pub enum SupervisorMsg<M> {
    /// Return the child of an id, starting it if it is not running.
    Child(Uuid, RpcReplyPort<Result<ActorRef<M>, String>>),
    /// Return the child of an id only if it is running.
    Running(Uuid, RpcReplyPort<Option<ActorRef<M>>>),
}

/// The supervisor actor of children of type `A`.
struct Supervisor<A>(PhantomData<fn() -> A>);

/// The supervisor's state: what starts a child and the children running now.
struct SupervisorState<A: Actor> {
    /// Name of a child in logs and errors, e.g. `key actor`.
    kind: &'static str,
    args: ChildArgs<A>,
    children: HashMap<Uuid, ActorRef<A::Msg>>,
    restarts: Arc<AtomicU64>,
}

impl<A: Actor + Default> SupervisorState<A> {
    async fn child(&mut self, supervisor: ActorCell, id: Uuid) -> Result<ActorRef<A::Msg>, String> {
        if let Some(child) = self.children.get(&id) {
            return Ok(child.clone());
        }
        let args = (self.args)(id);
        let (child, _) = A::spawn_linked(None, A::default(), args, supervisor)
            .await
            .map_err(|e| format!("cannot start the {} of {id}: {e}", self.kind))?;
        self.children.insert(id, child.clone());
        Ok(child)
    }

    fn id_of(&self, cell: &ActorCell) -> Option<Uuid> {
        self.children
            .iter()
            .find(|(_, child)| child.get_id() == cell.get_id())
            .map(|(id, _)| *id)
    }
}

impl<A: Actor + Default> Actor for Supervisor<A> {
    type Msg = SupervisorMsg<A::Msg>;
    type State = SupervisorState<A>;
    type Arguments = SupervisorState<A>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: SupervisorState<A>,
    ) -> Result<SupervisorState<A>, ActorProcessingErr> {
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut SupervisorState<A>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Child(id, reply) => {
                let child = state.child(myself.get_cell(), id).await;
                let _ = reply.send(child);
            }
            SupervisorMsg::Running(id, reply) => {
                let _ = reply.send(state.children.get(&id).cloned());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState<A>,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(id) = state.id_of(&cell) else {
                    return Ok(());
                };
                let kind = state.kind;
                tracing::warn!(%id, kind, error = %err, "child actor failed; restarting it from its stream");
                state.children.remove(&id);
                state.restarts.fetch_add(1, Ordering::Relaxed);
                if let Err(err) = state.child(myself.get_cell(), id).await {
                    tracing::error!(%id, kind, error = %err, "child actor could not be restarted");
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(id) = state.id_of(&cell) {
                    state.children.remove(&id);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A running supervisor of children of type `A`, one per id.
pub struct Supervised<A: Actor> {
    supervisor: ActorRef<SupervisorMsg<A::Msg>>,
    kind: &'static str,
    restarts: Arc<AtomicU64>,
}

impl<A: Actor> Clone for Supervised<A> {
    fn clone(&self) -> Self {
        Self {
            supervisor: self.supervisor.clone(),
            kind: self.kind,
            restarts: Arc::clone(&self.restarts),
        }
    }
}

impl<A: Actor + Default> Supervised<A> {
    /// Starts a supervisor whose children are called `kind` in logs and errors and start with
    /// the arguments `args` builds from their id.
    ///
    /// # Errors
    /// Fails when the supervisor actor cannot start.
    pub async fn start(kind: &'static str, args: ChildArgs<A>) -> Result<Self, String> {
        let restarts = Arc::new(AtomicU64::new(0));
        let state = SupervisorState {
            kind,
            args,
            children: HashMap::new(),
            restarts: Arc::clone(&restarts),
        };
        let (supervisor, _) = Actor::spawn(None, Supervisor::<A>(PhantomData), state)
            .await
            .map_err(|e| format!("cannot start the {kind} supervisor: {e}"))?;
        Ok(Self {
            supervisor,
            kind,
            restarts,
        })
    }

    /// Returns the child of `id`, starting it (and so rebuilding its state) if it is not
    /// running.
    ///
    /// # Errors
    /// Fails when the child cannot start or the supervisor does not reply.
    pub async fn child(&self, id: Uuid) -> Result<ActorRef<A::Msg>, String> {
        let reply = self
            .supervisor
            .call(|port| SupervisorMsg::Child(id, port), Some(CALL_TIMEOUT))
            .await;
        self.unwrap(reply)?
    }

    /// Returns the child of `id` if it is running.
    ///
    /// # Errors
    /// Fails when the supervisor does not reply.
    pub async fn running(&self, id: Uuid) -> Result<Option<ActorRef<A::Msg>>, String> {
        let reply = self
            .supervisor
            .call(|port| SupervisorMsg::Running(id, port), Some(CALL_TIMEOUT))
            .await;
        self.unwrap(reply)
    }

    /// Returns how many children were restarted after a failure since the start.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    fn unwrap<T, M>(
        &self,
        reply: Result<ractor::rpc::CallResult<T>, ractor::MessagingErr<M>>,
    ) -> Result<T, String> {
        match reply {
            Ok(ractor::rpc::CallResult::Success(value)) => Ok(value),
            Ok(ractor::rpc::CallResult::Timeout) => Err(format!(
                "the {} supervisor did not reply in time",
                self.kind
            )),
            Ok(ractor::rpc::CallResult::SenderError) => Err(format!(
                "the {} supervisor stopped before replying",
                self.kind
            )),
            Err(err) => Err(format!(
                "the {} supervisor is unavailable: {err}",
                self.kind
            )),
        }
    }
}
