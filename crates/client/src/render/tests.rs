//! The demo's game screen on the shell's screens.

use bevy::input::keyboard::KeyboardInput;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use skirmish_app::Screen;
use skirmish_app::client::ClientShellPlugin;

use crate::ClientPlugin;
use crate::assets::GameAssets;
use crate::test_support::count_named;

fn create_test_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin, AssetPlugin::default()))
        .init_asset::<Image>()
        .init_asset::<Font>();
    let assets = GameAssets::load(app.world_mut());
    app.insert_resource(assets)
        .add_plugins((ClientPlugin, ClientShellPlugin { title: "Skirmish" }))
        .init_resource::<ButtonInput<KeyCode>>()
        .add_message::<KeyboardInput>();
    app.update();
    app
}

fn go_to(app: &mut App, screen: Screen) {
    app.world_mut()
        .resource_mut::<NextState<Screen>>()
        .set(screen);
    app.update();
}

#[test]
fn nothing_of_the_game_screen_stays_on_the_menu() {
    let mut app = create_test_app();
    app.add_systems(
        OnEnter(Screen::InGame),
        (super::arena::spawn_arena, super::hud::spawn_hud),
    );
    go_to(&mut app, Screen::InGame);
    for part in [
        "HUD",
        "Kill feed",
        "Scoreboard",
        "Net overlay",
        "Arena floor",
    ] {
        assert_eq!(
            count_named(&mut app, part),
            1,
            "{part} is on the game screen"
        );
    }
    go_to(&mut app, Screen::MainMenu);
    for part in [
        "HUD",
        "Kill feed",
        "Scoreboard",
        "Net overlay",
        "Arena floor",
        "Wall",
    ] {
        assert_eq!(
            count_named(&mut app, part),
            0,
            "{part} is gone from the menu"
        );
    }
    // Back in a game, everything is there once (not twice).
    go_to(&mut app, Screen::InGame);
    assert_eq!(count_named(&mut app, "HUD"), 1);
}
