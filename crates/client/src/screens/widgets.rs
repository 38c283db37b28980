//! The screens' building blocks: a full-screen panel, labels, titles and buttons, and
//! [`Activated`], which a pressed button receives (each button observes it with its own action).

use bevy::prelude::*;

use super::Screen;

/// Which button this is: the menus' tests find buttons by it.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MenuButton {
    NameField,
    AddressField,
    Host,
    Join,
    Quit,
    Cancel,
    Back,
}

/// Triggered on a button when it is pressed (clicked, or touched).
#[derive(EntityEvent, Debug, Clone, Copy)]
pub(crate) struct Activated {
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
pub(super) fn panel(screen: Screen) -> impl Bundle {
    (
        DespawnOnExit(screen),
        BackgroundColor(Color::srgba(0.02, 0.03, 0.05, 0.82)),
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
pub(super) fn label(text: impl Into<String>, size: f32) -> impl Bundle {
    (
        Text::new(text),
        TextFont::from_font_size(size),
        TextColor(Color::srgb(0.92, 0.94, 0.97)),
    )
}

/// A screen's title.
pub(super) fn title(text: &str, font: TextFont) -> impl Bundle {
    (
        Text::new(text),
        font,
        TextColor(Color::srgb(1.0, 0.8, 0.35)),
    )
}

/// A button showing `text`; spawn it, then `.observe()` what it does on [`Activated`].
pub(super) fn button(kind: MenuButton, text: &str) -> impl Bundle {
    (
        kind,
        Button,
        BackgroundColor(Color::srgb(0.2, 0.24, 0.32)),
        Node {
            width: px(320),
            padding: UiRect::all(px(10)),
            justify_content: JustifyContent::Center,
            ..default()
        },
        children![label(text, 22.0)],
    )
}
