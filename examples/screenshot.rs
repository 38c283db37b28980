//! Hosts a game with a few wandering bots, plays for a few seconds in a real window, saves a
//! screenshot and exits. Used to regenerate `docs/screenshot.png`:
//!
//! ```sh
//! xvfb-run -a -s "-screen 0 1280x720x24" cargo run --release --example screenshot -- docs/screenshot.png
//! xvfb-run -a -s "-screen 0 1280x720x24" cargo run --release --example screenshot -- docs/menu.png menu
//! ```
//!
//! `SKIRMISH_ARENA=3` hosts a larger arena (as `--arena 3`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use skirmish_client::BotPlugin;
use skirmish_client::render::NetOverlay;
use skirmish_server::ServerSettings;

/// Seconds of play before the screenshot.
const PLAY_SECONDS: f32 = 2.5;

fn main() {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "docs/screenshot.png".into()),
    );
    if std::env::args().nth(2).as_deref() == Some("menu") {
        // The main menu, as a player sees it first.
        let mut app = skirmish_client::render::window_app();
        app.add_systems(Update, take_screenshot(path, false));
        app.run();
        return;
    }
    let arena = std::env::var("SKIRMISH_ARENA")
        .ok()
        .and_then(|tiles| tiles.parse().ok())
        .map_or_else(
            skirmish_shared::arena::Arena::default,
            skirmish_shared::arena::Arena::new,
        );
    let settings = ServerSettings {
        bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
        arena,
        ..default()
    };
    let server = skirmish_server::spawn_local_server(settings).expect("start the local server");

    for (seed, name) in [(11, "Ada"), (22, "Brook"), (33, "Cyd"), (44, "Dune")] {
        std::thread::spawn(move || run_headless_bot(server, seed, name));
    }

    let mut app = skirmish_client::render::window_app();
    app.add_plugins(BotPlugin { seed: 5 })
        .add_systems(Update, take_screenshot(path, true));
    skirmish_client::connect(app.world_mut(), server, "You").expect("connect");
    app.run();
}

/// A headless client driven by a bot, stepped at 60 Hz until the process exits.
fn run_headless_bot(server: SocketAddr, seed: u64, name: &str) {
    let mut app = skirmish_client::headless_app();
    app.add_plugins(BotPlugin { seed });
    skirmish_client::connect(app.world_mut(), server, name).expect("connect bot");
    loop {
        let start = Instant::now();
        app.update();
        std::thread::sleep(Duration::from_millis(16).saturating_sub(start.elapsed()));
    }
}

/// Saves a screenshot after a few seconds, then exits; `overlay` shows the F3 network overlay, as
/// a player who pressed F3 would see it.
fn take_screenshot(
    path: PathBuf,
    overlay: bool,
) -> impl FnMut(Commands, Res<Time>, Query<&mut Visibility, With<NetOverlay>>) {
    let mut taken = false;
    move |mut commands: Commands,
          time: Res<Time>,
          mut overlays: Query<&mut Visibility, With<NetOverlay>>| {
        if overlay {
            for mut visibility in &mut overlays {
                *visibility = Visibility::Inherited;
            }
        }
        if taken || time.elapsed_secs() < PLAY_SECONDS {
            return;
        }
        taken = true;
        commands
            .spawn(Screenshot::primary_window())
            .observe(save_to_disk(path.clone()))
            .observe(
                |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
                    exit.write(AppExit::Success);
                },
            );
    }
}
