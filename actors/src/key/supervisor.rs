//! The key supervisor: starts key actors on demand and restarts any that fail.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use uuid::Uuid;

use super::actor::{KeyActor, KeyActorArgs, KeyMsg};
use super::service::KeyContext;

/// Messages of the key supervisor.
pub enum SupervisorMsg {
    /// Return the actor of a key, starting it (and rebuilding its state) if it is not running.
    Actor(Uuid, RpcReplyPort<Result<ActorRef<KeyMsg>, String>>),
}

pub struct KeySupervisor;

pub struct SupervisorState {
    context: Arc<KeyContext>,
    children: HashMap<Uuid, ActorRef<KeyMsg>>,
}

impl SupervisorState {
    async fn child(
        &mut self,
        supervisor: ActorCell,
        key_id: Uuid,
    ) -> Result<ActorRef<KeyMsg>, String> {
        if let Some(child) = self.children.get(&key_id) {
            return Ok(child.clone());
        }
        let args = KeyActorArgs {
            key_id,
            context: Arc::clone(&self.context),
        };
        let (child, _) = Actor::spawn_linked(None, KeyActor, args, supervisor)
            .await
            .map_err(|e| format!("cannot start the actor of key {key_id}: {e}"))?;
        self.children.insert(key_id, child.clone());
        Ok(child)
    }

    fn key_of(&self, cell: &ActorCell) -> Option<Uuid> {
        self.children
            .iter()
            .find(|(_, child)| child.get_id() == cell.get_id())
            .map(|(id, _)| *id)
    }
}

impl Actor for KeySupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<KeyContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        context: Arc<KeyContext>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            context,
            children: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Actor(key_id, reply) => {
                let child = state.child(myself.get_cell(), key_id).await;
                let _ = reply.send(child);
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
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(key_id) = state.key_of(&cell) else {
                    return Ok(());
                };
                tracing::warn!(%key_id, error = %err, "key actor failed; restarting it from its stream");
                state.children.remove(&key_id);
                if let Err(err) = state.child(myself.get_cell(), key_id).await {
                    tracing::error!(%key_id, error = %err, "key actor could not be restarted");
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(key_id) = state.key_of(&cell) {
                    state.children.remove(&key_id);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
