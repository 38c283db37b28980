//! [`Theme`]: how the shell's screens and overlay look.

use bevy::prelude::*;

/// The look of the shell's screens and overlay: a game inserts its own (before or after the
/// shell's plugin) to match its art.
#[derive(Resource, Debug, Clone)]
pub struct Theme {
    /// The main menu's heading.
    pub title: String,
    /// The face of headings (the default font unless set).
    pub heading_font: Handle<Font>,
    /// The face of the network overlay's figures.
    pub mono_font: Handle<Font>,
    /// Body text.
    pub text: Color,
    /// Headings.
    pub accent: Color,
    /// A button's face.
    pub button: Color,
    /// The full-window panel behind a screen.
    pub panel: Color,
    /// The overlay's figures.
    pub overlay_text: Color,
}

impl Theme {
    /// The default look with `title` as the heading.
    pub fn titled(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            heading_font: Handle::default(),
            mono_font: Handle::default(),
            text: Color::srgb(0.92, 0.94, 0.97),
            accent: Color::srgb(1.0, 0.8, 0.35),
            button: Color::srgb(0.2, 0.24, 0.32),
            panel: Color::srgba(0.02, 0.03, 0.05, 0.82),
            overlay_text: Color::srgb(0.75, 0.95, 0.8),
        }
    }

    /// A heading's font at `size`.
    pub fn heading(&self, size: f32) -> TextFont {
        TextFont::from(self.heading_font.clone()).with_font_size(size)
    }

    /// The overlay's font at `size`.
    pub fn mono(&self, size: f32) -> TextFont {
        TextFont::from(self.mono_font.clone()).with_font_size(size)
    }
}

impl Default for Theme {
    fn default() -> Self {
        Self::titled("")
    }
}
