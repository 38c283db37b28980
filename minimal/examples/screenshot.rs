//! Hosts Gems with two bot pilots, flies for a few seconds in a real window (a bot at the helm),
//! saves a screenshot and exits. Used for `docs/gems.png`:
//!
//! ```sh
//! xvfb-run -a -s "-screen 0 1280x720x24" cargo run -p minimal-game --example gems_screenshot -- docs/gems.png
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use minimal_game::Gems;
use minimal_game::client::BotPilotPlugin;
use skirmish_app::bots::headless_client;
use skirmish_app::client::{ScreenshotPlugin, window_app};
use skirmish_app::{NoArgs, ServerSettings};

fn main() {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "docs/gems.png".into()),
    );
    let settings = ServerSettings {
        bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
        ..ServerSettings::default()
    };
    let server =
        skirmish_app::spawn_local_server::<Gems>(settings, NoArgs {}).expect("start the server");
    for name in ["Ada", "Brook"] {
        std::thread::spawn(move || run_bot(server, name));
    }
    let mut app = window_app::<Gems>();
    app.add_plugins((
        BotPilotPlugin,
        ScreenshotPlugin {
            path,
            after_seconds: 6.0,
            overlay: true,
        },
    ));
    skirmish_net::client::connect(app.world_mut(), server, "You").expect("connect");
    app.run();
}

/// A headless bot pilot, stepped at 60 Hz until the process exits.
fn run_bot(server: SocketAddr, name: &str) {
    let mut app = headless_client::<Gems>();
    app.add_plugins(BotPilotPlugin);
    skirmish_net::client::connect(app.world_mut(), server, name).expect("connect bot");
    loop {
        let start = Instant::now();
        app.update();
        std::thread::sleep(Duration::from_millis(16).saturating_sub(start.elapsed()));
    }
}
