//! The disconnected screen: why the connection ended, and Back to the menu.

use bevy::prelude::*;

use super::Screen;
use super::widgets::{Activated, MenuButton, button, label, panel, title};
use crate::client::Theme;

/// Why the last connection ended, for the Disconnected screen.
#[derive(Resource, Debug, Default, Clone)]
pub(super) struct LastReason(pub(super) String);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<LastReason>()
        .add_systems(OnEnter(Screen::Disconnected), spawn_disconnected);
}

fn spawn_disconnected(mut commands: Commands, reason: Res<LastReason>, theme: Res<Theme>) {
    commands
        .spawn((
            Name::new("Disconnected"),
            panel(Screen::Disconnected, &theme),
        ))
        .with_children(|screen| {
            screen.spawn(title("Disconnected", 40.0, &theme));
            screen.spawn(label(reason.0.clone(), 22.0, &theme));
            screen
                .spawn(button(MenuButton::Back, "Back to menu", &theme))
                .observe(|_: On<Activated>, mut next: ResMut<NextState<Screen>>| {
                    next.set(Screen::MainMenu);
                });
        });
}
