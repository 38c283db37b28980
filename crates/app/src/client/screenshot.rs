//! [`ScreenshotPlugin`]: save one frame of the window to a PNG after a while, then exit. For a
//! game's README picture and a smoke test under Xvfb.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use super::OverlayShown;
use super::overlay::NetOverlay;

/// Saves the primary window to `path` once `after_seconds` have passed, then exits the app.
pub struct ScreenshotPlugin {
    /// The PNG to write.
    pub path: PathBuf,
    /// Seconds of the app's time before the frame is taken.
    pub after_seconds: f32,
    /// Show the F3 network overlay, as a player who pressed F3 would see it.
    pub overlay: bool,
}

#[derive(Resource)]
struct Pending {
    path: PathBuf,
    after_seconds: f32,
    overlay: bool,
    taken: bool,
}

impl Plugin for ScreenshotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Pending {
            path: self.path.clone(),
            after_seconds: self.after_seconds,
            overlay: self.overlay,
            taken: false,
        })
        .add_systems(Update, take_screenshot);
    }
}

fn take_screenshot(
    mut commands: Commands,
    time: Res<Time>,
    mut pending: ResMut<Pending>,
    mut shown: ResMut<OverlayShown>,
    mut overlays: Query<&mut Visibility, With<NetOverlay>>,
) {
    if pending.overlay {
        shown.0 = true;
        for mut visibility in &mut overlays {
            *visibility = Visibility::Inherited;
        }
    }
    if pending.taken || time.elapsed_secs() < pending.after_seconds {
        return;
    }
    pending.taken = true;
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(pending.path.clone()))
        .observe(
            |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
                exit.write(AppExit::Success);
            },
        );
}
