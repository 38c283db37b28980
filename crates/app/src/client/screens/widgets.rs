//! The screens' building blocks: a full-screen panel, labels, titles and buttons, and
//! [`Activated`], which a pressed button receives (each button observes it with its own action).

use bevy::prelude::*;

use super::Screen;
use crate::client::Theme;

/// Which button this is: tests find buttons by it.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuButton {
    /// The main menu's name field.
    NameField,
    /// The main menu's address field.
    AddressField,
    /// "Host a game".
    Host,
    /// "Join".
    Join,
    /// "Quit".
    Quit,
    /// Connecting: "Cancel".
    Cancel,
    /// Disconnected: "Back to menu".
    Back,
}

/// Triggered on a button when it is pressed (clicked, or touched).
#[derive(EntityEvent, Debug, Clone, Copy)]
pub struct Activated {
    /// The button.
    pub entity: Entity,
}

/// Triggers [`Activated`] on each button pressed this frame.
pub(super) fn activate_pressed_buttons(
    pressed: Query<(Entity, &Interaction), (Changed<Interaction>, With<MenuButton>)>,
    mut commands: Commands,
) {
    for (entity, interaction) in &pressed {
        if *interaction == Interaction::Pressed {
            commands.trigger(Activated { entity });
        }
    }
}

/// A screen's full-window panel, despawned when `screen` is left.
pub(super) fn panel(screen: Screen, theme: &Theme) -> impl Bundle {
    (
        DespawnOnExit(screen),
        BackgroundColor(theme.panel),
        Node {
            position_type: PositionType::Absolute,
            width: percent(100),
            height: percent(100),
            flex_direction: FlexDirection::Column,
            align_items: AlignItems::Center,
            justify_content: JustifyContent::Center,
            row_gap: px(12),
            ..default()
        },
    )
}

/// A line of text.
pub(super) fn label(text: impl Into<String>, size: f32, theme: &Theme) -> impl Bundle {
    (
        Text::new(text),
        TextFont::from_font_size(size),
        TextColor(theme.text),
    )
}

/// A screen's title.
pub(super) fn title(text: &str, size: f32, theme: &Theme) -> impl Bundle {
    (
        Text::new(text),
        theme.heading(size),
        TextColor(theme.accent),
    )
}

/// A button showing `text`; spawn it, then `.observe()` what it does on [`Activated`].
pub(super) fn button(kind: MenuButton, text: &str, theme: &Theme) -> impl Bundle {
    (
        kind,
        Button,
        BackgroundColor(theme.button),
        Node {
            width: px(320),
            padding: UiRect::all(px(10)),
            justify_content: JustifyContent::Center,
            ..default()
        },
        children![label(text, 22.0, theme)],
    )
}
