//! The game's own messages, typed: registered once in the game's shared plugin, written and read
//! as Bevy [`Message`]s on each side. They travel reliably and in order, encoded with the
//! [`codec`](crate::codec).
//!
//! ```
//! use bevy::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use skirmish_net::messages::{AppMessageExt, SendTo, ToClients};
//!
//! /// Server to clients: someone scored.
//! #[derive(Message, Debug, Clone, Serialize, Deserialize)]
//! struct Goal { scorer: u64 }
//!
//! /// Client to server: a chat line.
//! #[derive(Message, Debug, Clone, Serialize, Deserialize)]
//! struct Chat(String);
//!
//! let mut app = App::new();
//! app.add_server_message::<Goal>().add_client_message::<Chat>();
//! // Server: `MessageWriter<ToClients<Goal>>` sends, for example
//! // `ToClients { to: SendTo::All, message: Goal { scorer: 7 } }`; clients read `MessageReader<Goal>`.
//! // Client: `MessageWriter<Chat>` sends; the server reads `MessageReader<FromClient<Chat>>`.
//! # let _ = ToClients { to: SendTo::All, message: Goal { scorer: 7 } };
//! ```

use std::any::{TypeId, type_name};

use bevy::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

use crate::codec::{DecodeError, MAX_MESSAGE_BYTES, decode, encode};

/// Which clients a server message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTo {
    /// Every client that said hello.
    All,
    /// One client, by netcode client id.
    Client(u64),
    /// Everyone but one client.
    AllExcept(u64),
}

impl SendTo {
    /// Whether client `client_id` gets the message.
    pub fn includes(self, client_id: u64) -> bool {
        match self {
            Self::All => true,
            Self::Client(id) => id == client_id,
            Self::AllExcept(id) => id != client_id,
        }
    }
}

/// Written on the server to send `message` to clients.
#[derive(Message, Debug, Clone)]
pub struct ToClients<M> {
    /// Who gets it.
    pub to: SendTo,
    /// The message.
    pub message: M,
}

/// Read on the server: `message` from client `client_id`, whose client entity is `client`.
#[derive(Message, Debug, Clone)]
pub struct FromClient<M> {
    /// The sender's netcode client id.
    pub client_id: u64,
    /// The sender's client entity on the server.
    pub client: Entity,
    /// The message.
    pub message: M,
}

/// One registered message type, type-erased.
#[derive(Debug, Clone, Copy)]
pub struct MessageRule {
    /// The type's name, for errors and the fingerprint.
    pub name: &'static str,
    /// The type.
    pub type_id: TypeId,
    /// Sending side: takes every message written since the last call, encoded, with their
    /// recipients (always [`SendTo::All`] for client messages: they go to the server).
    pub take_outgoing: fn(&mut World, &mut Vec<(SendTo, Vec<u8>)>),
    /// Receiving side: decodes bytes from `client` (`None` on the client: from the server) and
    /// writes the message.
    pub deliver: fn(&mut World, Option<(u64, Entity)>, &[u8]) -> Result<(), DecodeError>,
}

/// Every registered message type, per direction, in registration order: a rule's index is its
/// `kind` on the wire, so both sides must register the same types in the same order.
#[derive(Resource, Debug, Default)]
pub struct MessageRegistry {
    server: Vec<MessageRule>,
    client: Vec<MessageRule>,
}

impl MessageRegistry {
    /// Server-to-client message types, by wire kind.
    pub fn server_messages(&self) -> &[MessageRule] {
        &self.server
    }

    /// Client-to-server message types, by wire kind.
    pub fn client_messages(&self) -> &[MessageRule] {
        &self.client
    }

    /// Every type name in order, for the registry fingerprint.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.server
            .iter()
            .map(|rule| rule.name)
            .chain(["->"])
            .chain(self.client.iter().map(|rule| rule.name))
    }
}

/// Registers the game's message types on an [`App`].
pub trait AppMessageExt {
    /// Registers `M`, sent by the server (write [`ToClients<M>`]) and read by clients
    /// (`MessageReader<M>`). A second registration is ignored, with a warning.
    ///
    /// # Panics
    /// If more than 256 server message types are registered, or `M` is a client message too
    /// (a client would send back what it receives: use one type per direction).
    fn add_server_message<M>(&mut self) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned;

    /// Registers `M`, sent by clients (write `M`) and read by the server
    /// (`MessageReader<FromClient<M>>`). A second registration is ignored, with a warning.
    ///
    /// # Panics
    /// If more than 256 client message types are registered, or `M` is a server message too.
    fn add_client_message<M>(&mut self) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned;
}

impl AppMessageExt for App {
    fn add_server_message<M>(&mut self) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned,
    {
        let rule = MessageRule {
            name: type_name::<M>(),
            type_id: TypeId::of::<M>(),
            take_outgoing: take_to_clients::<M>,
            deliver: deliver_from_server::<M>,
        };
        if register(self, rule, Direction::ToClients) {
            self.add_message::<M>().add_message::<ToClients<M>>();
        }
        self
    }

    fn add_client_message<M>(&mut self) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned,
    {
        let rule = MessageRule {
            name: type_name::<M>(),
            type_id: TypeId::of::<M>(),
            take_outgoing: take_to_server::<M>,
            deliver: deliver_from_client::<M>,
        };
        if register(self, rule, Direction::ToServer) {
            self.add_message::<M>().add_message::<FromClient<M>>();
        }
        self
    }
}

#[derive(PartialEq)]
enum Direction {
    ToClients,
    ToServer,
}

/// Adds `rule` in `direction`; `false` if it was registered already.
fn register(app: &mut App, rule: MessageRule, direction: Direction) -> bool {
    let mut registry = app.world_mut().get_resource_or_init::<MessageRegistry>();
    let registry = &mut *registry;
    let (same, other) = match direction {
        Direction::ToClients => (&mut registry.server, &registry.client),
        Direction::ToServer => (&mut registry.client, &registry.server),
    };
    assert!(
        !other.iter().any(|known| known.type_id == rule.type_id),
        "{} is registered in both directions; a client would send back what it receives: use \
         one message type per direction",
        rule.name
    );
    if same.iter().any(|known| known.type_id == rule.type_id) {
        warn!(
            "{} is already registered; ignoring the second registration",
            rule.name
        );
        return false;
    }
    assert!(same.len() < 256, "at most 256 message types per direction");
    same.push(rule);
    true
}

fn take_to_clients<M: Message + Serialize>(world: &mut World, out: &mut Vec<(SendTo, Vec<u8>)>) {
    let Some(mut messages) = world.get_resource_mut::<Messages<ToClients<M>>>() else {
        return;
    };
    for ToClients { to, message } in messages.drain() {
        push_encoded::<M>(out, to, &message);
    }
}

fn take_to_server<M: Message + Serialize>(world: &mut World, out: &mut Vec<(SendTo, Vec<u8>)>) {
    let Some(mut messages) = world.get_resource_mut::<Messages<M>>() else {
        return;
    };
    for message in messages.drain() {
        push_encoded::<M>(out, SendTo::All, &message);
    }
}

fn push_encoded<M: Serialize>(out: &mut Vec<(SendTo, Vec<u8>)>, to: SendTo, message: &M) {
    let bytes = encode(message);
    // A message a peer would refuse is a bug of ours; the peer must not pay for it.
    if bytes.len() > MAX_MESSAGE_BYTES / 2 {
        error!(
            "{} encodes to {} bytes, over half the message limit: not sent",
            type_name::<M>(),
            bytes.len()
        );
        return;
    }
    out.push((to, bytes));
}

fn deliver_from_server<M: Message + DeserializeOwned>(
    world: &mut World,
    _from: Option<(u64, Entity)>,
    bytes: &[u8],
) -> Result<(), DecodeError> {
    let message: M = decode(bytes)?;
    world.write_message(message);
    Ok(())
}

fn deliver_from_client<M: Message + DeserializeOwned>(
    world: &mut World,
    from: Option<(u64, Entity)>,
    bytes: &[u8],
) -> Result<(), DecodeError> {
    let message: M = decode(bytes)?;
    let (client_id, client) = from.unwrap_or((0, Entity::PLACEHOLDER));
    world.write_message(FromClient {
        client_id,
        client,
        message,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Message, Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Chat(String);

    #[test]
    fn a_client_message_travels_as_bytes_and_arrives_typed() {
        let mut client = App::new();
        client.add_client_message::<Chat>();
        let mut server = App::new();
        server.add_client_message::<Chat>();

        client.world_mut().write_message(Chat("hi".into()));
        let rule = client
            .world()
            .resource::<MessageRegistry>()
            .client_messages()[0];
        let mut outgoing = Vec::new();
        (rule.take_outgoing)(client.world_mut(), &mut outgoing);
        assert_eq!(outgoing.len(), 1);
        (rule.take_outgoing)(client.world_mut(), &mut outgoing);
        assert_eq!(outgoing.len(), 1, "taken once");

        let sender = server.world_mut().spawn_empty().id();
        (rule.deliver)(server.world_mut(), Some((42, sender)), &outgoing[0].1).unwrap();
        let received: Vec<_> = server
            .world_mut()
            .resource_mut::<Messages<FromClient<Chat>>>()
            .drain()
            .collect();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].message, Chat("hi".into()));
        assert_eq!((received[0].client_id, received[0].client), (42, sender));
        assert!((rule.deliver)(server.world_mut(), None, &[0xFF, 0xFF]).is_err());
    }

    #[test]
    fn registering_twice_is_ignored_and_both_directions_is_refused() {
        let mut app = App::new();
        app.add_client_message::<Chat>()
            .add_client_message::<Chat>();
        assert_eq!(
            app.world()
                .resource::<MessageRegistry>()
                .client_messages()
                .len(),
            1
        );
        let both = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            app.add_server_message::<Chat>();
        }));
        assert!(both.is_err(), "one type per direction");
    }

    #[test]
    fn recipients() {
        assert!(SendTo::All.includes(3));
        assert!(SendTo::Client(3).includes(3) && !SendTo::Client(3).includes(4));
        assert!(!SendTo::AllExcept(3).includes(3) && SendTo::AllExcept(3).includes(4));
    }
}
