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

use skirmish::Skirmish;
use skirmish::args::{BotSkillArg, MatchArgs};
use skirmish_app::ServerSettings;
use skirmish_app::bots::headless_client;
use skirmish_app::client::{ScreenshotPlugin, window_app};
use skirmish_client::BotPlugin;

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
        let mut app = window_app::<Skirmish>();
        app.add_plugins(ScreenshotPlugin {
            path,
            after_seconds: PLAY_SECONDS,
            overlay: false,
        });
        app.run();
        return;
    }
    let arena = std::env::var("SKIRMISH_ARENA")
        .ok()
        .and_then(|tiles| tiles.parse().ok())
        .unwrap_or(1);
    let settings = ServerSettings {
        bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
        ..ServerSettings::default()
    };
    let args = MatchArgs {
        bots: 0,
        bot_skill: BotSkillArg::Normal,
        arena,
    };
    let server = skirmish_app::spawn_local_server::<Skirmish>(settings, args)
        .expect("start the local server");

    for (seed, name) in [(11, "Ada"), (22, "Brook"), (33, "Cyd"), (44, "Dune")] {
        std::thread::spawn(move || run_headless_bot(server, seed, name));
    }

    let mut app = window_app::<Skirmish>();
    app.add_plugins((
        BotPlugin { seed: 5 },
        ScreenshotPlugin {
            path,
            after_seconds: PLAY_SECONDS,
            overlay: true,
        },
    ));
    skirmish_client::connect(app.world_mut(), server, "You").expect("connect");
    app.run();
}

/// A headless client driven by a bot, stepped at 60 Hz until the process exits.
fn run_headless_bot(server: SocketAddr, seed: u64, name: &str) {
    let mut app = headless_client::<Skirmish>();
    app.add_plugins(BotPlugin { seed });
    skirmish_client::connect(app.world_mut(), server, name).expect("connect bot");
    loop {
        let start = Instant::now();
        app.update();
        std::thread::sleep(Duration::from_millis(16).saturating_sub(start.elapsed()));
    }
}
