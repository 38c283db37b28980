//! The game's sprites and fonts, compiled into the binary so `skirmish` runs from any directory.
//!
//! Sources live in `assets/` at the workspace root (SVG sources and the script that renders them in
//! `assets/src/`, licences in `assets/LICENSES.md`). To add a sprite: draw `assets/src/NAME.svg`, run
//! `assets/src/build.sh`, add a field below and load it in [`GameAssets::load`].

use bevy::asset::RenderAssetUsages;
use bevy::image::{CompressedImageFormats, ImageSampler, ImageType};
use bevy::prelude::*;

/// Handles to every sprite and font the game draws with. Inserted by `ClientRenderPlugin`, which
/// also makes `DejaVu` Sans the default font (the one `TextFont::default()` uses).
#[derive(Resource, Clone)]
pub struct GameAssets {
    /// A player seen from above, light grey: tinted with the player's colour.
    pub player: Handle<Image>,
    /// The gun barrel, pointing along +x.
    pub gun: Handle<Image>,
    /// A glowing projectile.
    pub bullet: Handle<Image>,
    /// A 64x64 wall tile, repeated along each wall.
    pub wall: Handle<Image>,
    /// A 128x128 floor tile, repeated over the arena.
    pub floor: Handle<Image>,
    /// The ring drawn under the local player.
    pub ring: Handle<Image>,
    /// `DejaVu` Sans Bold: titles, the HUD and player names.
    pub bold: Handle<Font>,
    /// `DejaVu` Sans Mono: tables (scoreboard, network overlay).
    pub mono: Handle<Font>,
}

/// The bytes of a file under the workspace's `assets/`, compiled into the binary.
macro_rules! asset_bytes {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/", $path))
    };
}
#[cfg_attr(
    not(feature = "audio"),
    expect(unused_imports, reason = "used by `audio`, an opt-in feature")
)]
pub(crate) use asset_bytes;

impl GameAssets {
    /// Decodes the embedded files into `world`'s asset stores and replaces the default font.
    pub fn load(world: &mut World) -> Self {
        let mut images = world.resource_mut::<Assets<Image>>();
        let mut image = |bytes: &[u8]| images.add(decode_png(bytes));
        let player = image(asset_bytes!("sprites/player.png"));
        let gun = image(asset_bytes!("sprites/gun.png"));
        let bullet = image(asset_bytes!("sprites/bullet.png"));
        let wall = image(asset_bytes!("sprites/wall.png"));
        let floor = image(asset_bytes!("sprites/floor.png"));
        let ring = image(asset_bytes!("sprites/ring.png"));

        let mut fonts = world.resource_mut::<Assets<Font>>();
        let regular = Font::from_bytes(asset_bytes!("fonts/DejaVuSans.ttf").to_vec());
        // Replacing the default handle's font changes every text that names no font.
        if let Err(error) = fonts.insert(AssetId::default(), regular) {
            warn!("could not replace the default font: {error}");
        }
        let bold = fonts.add(Font::from_bytes(
            asset_bytes!("fonts/DejaVuSans-Bold.ttf").to_vec(),
        ));
        let mono = fonts.add(Font::from_bytes(
            asset_bytes!("fonts/DejaVuSansMono.ttf").to_vec(),
        ));
        Self {
            player,
            gun,
            bullet,
            wall,
            floor,
            ring,
            bold,
            mono,
        }
    }

    /// A [`TextFont`] in the bold face.
    pub fn bold(&self, size: f32) -> TextFont {
        TextFont::from(self.bold.clone()).with_font_size(size)
    }

    /// A [`TextFont`] in the monospaced face.
    pub fn mono(&self, size: f32) -> TextFont {
        TextFont::from(self.mono.clone()).with_font_size(size)
    }
}

/// The embedded PNGs are part of the build: one that does not decode is a bug in the build, so
/// this panics at start-up rather than drawing nothing.
fn decode_png(bytes: &[u8]) -> Image {
    Image::from_buffer(
        bytes,
        ImageType::Extension("png"),
        CompressedImageFormats::NONE,
        true,
        ImageSampler::linear(),
        RenderAssetUsages::default(),
    )
    .expect("embedded sprite is a valid PNG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_assets_decode_and_replace_the_default_font() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .add_plugins(AssetPlugin::default())
            .init_asset::<Image>()
            .init_asset::<Font>();
        let assets = GameAssets::load(app.world_mut());
        let images = app.world().resource::<Assets<Image>>();
        let player = images.get(&assets.player).expect("player sprite loaded");
        assert_eq!(player.size(), UVec2::splat(64));
        assert_eq!(images.get(&assets.wall).unwrap().size(), UVec2::splat(64));
        let fonts = app.world().resource::<Assets<Font>>();
        assert!(fonts.get(AssetId::default()).is_some());
        assert!(fonts.get(&assets.bold).is_some());
    }
}
