//! The main menu: the player's name, the server's address, Host, Join and Quit.

use std::net::SocketAddr;

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;

use super::widgets::{Activated, MenuButton, button, label, panel, title};
use super::{HostGame, Screen, start_connecting};
use crate::client::Theme;

/// What the menu fields hold.
#[derive(Resource, Debug, Clone)]
pub struct MenuFields {
    /// Player name.
    pub name: String,
    /// Server address to join.
    pub address: String,
    /// Which field the keyboard types into (0 name, 1 address).
    pub(super) focus: usize,
    /// Last error to show.
    pub(super) error: String,
}

impl Default for MenuFields {
    fn default() -> Self {
        Self {
            name: "Player".into(),
            address: "127.0.0.1:5000".into(),
            focus: 0,
            error: String::new(),
        }
    }
}

/// The text of field 0 (name) or 1 (address).
#[derive(Component)]
struct FieldText(usize);

/// Where the last error shows.
#[derive(Component)]
struct ErrorText;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<MenuFields>()
        .add_systems(OnEnter(Screen::MainMenu), spawn_main_menu)
        .add_systems(
            Update,
            (type_into_fields, show_fields).run_if(in_state(Screen::MainMenu)),
        );
}

fn spawn_main_menu(mut commands: Commands, fields: Res<MenuFields>, theme: Res<Theme>) {
    let theme = &*theme;
    commands
        .spawn((Name::new("Main menu"), panel(Screen::MainMenu, theme)))
        .with_children(|menu| {
            menu.spawn(title(&theme.title, 64.0, theme));
            menu.spawn(label("Name (click a field, then type)", 16.0, theme));
            menu.spawn((
                button(MenuButton::NameField, &format!("{}_", fields.name), theme),
                FieldText(0),
            ))
            .observe(|_: On<Activated>, mut fields: ResMut<MenuFields>| fields.focus = 0);
            menu.spawn(label("Server address", 16.0, theme));
            menu.spawn((
                button(MenuButton::AddressField, &fields.address, theme),
                FieldText(1),
            ))
            .observe(|_: On<Activated>, mut fields: ResMut<MenuFields>| fields.focus = 1);
            menu.spawn(button(MenuButton::Host, "Host a game", theme))
                .observe(|_: On<Activated>, mut commands: Commands| commands.queue(host));
            menu.spawn(button(MenuButton::Join, "Join", theme))
                .observe(|_: On<Activated>, mut commands: Commands| commands.queue(join));
            menu.spawn(button(MenuButton::Quit, "Quit", theme)).observe(
                |_: On<Activated>, mut exit: MessageWriter<AppExit>| {
                    exit.write(AppExit::Success);
                },
            );
            menu.spawn((ErrorText, label(fields.error.clone(), 18.0, theme)));
        });
}

/// Starts a local server (the launcher's [`HostGame`]) and joins it.
fn host(world: &mut World) {
    let hosted = world
        .get_resource::<HostGame>()
        .map(|host| (host.0)())
        .unwrap_or_else(|| Err("this build cannot host".into()));
    match hosted {
        Ok(addr) => start_connecting(world, addr),
        Err(err) => world.resource_mut::<MenuFields>().error = err,
    }
}

/// Joins the address in the address field, or says why it is not one.
fn join(world: &mut World) {
    let address = world.resource::<MenuFields>().address.clone();
    match address.trim().parse::<SocketAddr>() {
        Ok(addr) => start_connecting(world, addr),
        Err(_) => {
            world.resource_mut::<MenuFields>().error =
                format!("{address:?} is not an address like 127.0.0.1:5000");
        }
    }
}

/// Typing into the focused menu field.
fn type_into_fields(mut keys: MessageReader<KeyboardInput>, mut fields: ResMut<MenuFields>) {
    for key in keys.read() {
        if key.state != ButtonState::Pressed {
            continue;
        }
        let field = if fields.focus == 0 {
            &mut fields.name
        } else {
            &mut fields.address
        };
        match &key.logical_key {
            Key::Backspace => {
                field.pop();
            }
            Key::Tab => fields.focus = 1 - fields.focus,
            Key::Character(text) if field.chars().count() < 32 => {
                field.extend(text.chars().filter(|c| !c.is_control()));
            }
            _ => {}
        }
    }
}

/// Shows the fields' text (a cursor on the focused one) and the last error.
fn show_fields(
    fields: Res<MenuFields>,
    holders: Query<(&FieldText, &Children)>,
    mut texts: Query<&mut Text>,
    mut errors: Query<Entity, With<ErrorText>>,
) {
    if !fields.is_changed() {
        return;
    }
    for (field, children) in &holders {
        let value = if field.0 == 0 {
            &fields.name
        } else {
            &fields.address
        };
        let cursor = if fields.focus == field.0 { "_" } else { "" };
        for child in children {
            if let Ok(mut text) = texts.get_mut(*child) {
                text.0 = format!("{value}{cursor}");
            }
        }
    }
    for entity in &mut errors {
        if let Ok(mut text) = texts.get_mut(entity) {
            text.0.clone_from(&fields.error);
        }
    }
}
