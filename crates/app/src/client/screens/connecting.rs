//! The connecting screen: where to, and Cancel.

use bevy::prelude::*;

use super::widgets::{Activated, MenuButton, button, label, panel};
use super::{Screen, leave};
use skirmish_net::client::ConnectionStatus;

use crate::client::Theme;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(OnEnter(Screen::Connecting), spawn_connecting);
}

fn spawn_connecting(mut commands: Commands, status: Res<ConnectionStatus>, theme: Res<Theme>) {
    let line = match &*status {
        ConnectionStatus::Connecting { server } => format!("Connecting to {server}..."),
        _ => "Connecting...".to_owned(),
    };
    commands
        .spawn((Name::new("Connecting"), panel(Screen::Connecting, &theme)))
        .with_children(|screen| {
            screen.spawn(label(line, 28.0, &theme));
            screen
                .spawn(button(MenuButton::Cancel, "Cancel", &theme))
                .observe(|_: On<Activated>, mut commands: Commands| commands.queue(leave));
        });
}
