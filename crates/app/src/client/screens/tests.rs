use bevy::state::app::StatesPlugin;

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;

use serde::{Deserialize, Serialize};
use skirmish_net::client::ConnectionStatus;
use skirmish_net::prelude::*;

use super::widgets::MenuButton;
use super::*;
use crate::client::ClientShellPlugin;

/// The input of the screens' test game.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Nudge;

impl NetInput for Nudge {}

fn create_test_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin, AssetPlugin::default()))
        .init_asset::<Image>()
        .init_asset::<Font>()
        .insert_resource(GameProtocol {
            id: 0x5445_5354,
            version: 1,
        })
        .add_input::<Nudge>()
        .add_plugins(NetClientPlugin)
        .add_plugins(ClientShellPlugin { title: "Test" })
        .init_resource::<ButtonInput<KeyCode>>()
        .add_message::<KeyboardInput>();
    app.update();
    app
}

fn click(app: &mut App, which: MenuButton) {
    let mut buttons = app.world_mut().query::<(Entity, &MenuButton)>();
    let entity = buttons
        .iter(app.world())
        .find(|(_, button)| **button == which)
        .map(|(entity, _)| entity)
        .expect("the button is on screen");
    app.world_mut()
        .entity_mut(entity)
        .insert(Interaction::Pressed);
    app.update();
}

fn shown_texts(app: &mut App) -> Vec<String> {
    let mut texts = app.world_mut().query::<&Text>();
    texts.iter(app.world()).map(|text| text.0.clone()).collect()
}

#[test]
fn host_connects_and_gives_up_on_a_silent_server_with_a_reason() {
    let mut app = create_test_app();
    // A local UDP socket that never answers stands in for a hosted server that hangs.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let hosted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hosted.clone();
    app.insert_resource(HostGame(Box::new(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(addr)
    })))
    .insert_resource(skirmish_net::client::ConnectTimeout(
        std::time::Duration::from_millis(300),
    ));

    click(&mut app, MenuButton::Host);
    app.update();
    assert_eq!(hosted.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(screen(&app), Screen::Connecting);
    assert!(
        shown_texts(&mut app)
            .iter()
            .any(|text| text.contains(&addr.to_string())),
        "the connecting screen names the server"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while screen(&app) != Screen::Disconnected && std::time::Instant::now() < deadline {
        app.update();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(screen(&app), Screen::Disconnected, "the attempt timed out");
    let shown = shown_texts(&mut app);
    assert!(
        shown.iter().any(|text| text.contains("no answer from")),
        "the timeout is explained: {shown:?}"
    );

    click(&mut app, MenuButton::Back);
    app.update();
    assert_eq!(screen(&app), Screen::MainMenu);
}

#[test]
fn join_with_a_bad_address_explains_it_and_stays_on_the_menu() {
    let mut app = create_test_app();
    app.world_mut().resource_mut::<MenuFields>().address = "not an address".into();
    click(&mut app, MenuButton::Join);
    app.update();
    assert_eq!(screen(&app), Screen::MainMenu);
    assert!(
        shown_texts(&mut app)
            .iter()
            .any(|text| text.contains("is not an address")),
        "the error is shown"
    );
}

#[test]
fn cancel_while_connecting_returns_to_the_menu() {
    let mut app = create_test_app();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    app.world_mut().resource_mut::<MenuFields>().address = silent.local_addr().unwrap().to_string();
    click(&mut app, MenuButton::Join);
    app.update();
    assert_eq!(screen(&app), Screen::Connecting);
    click(&mut app, MenuButton::Cancel);
    app.update();
    assert_eq!(screen(&app), Screen::MainMenu);
    assert_eq!(
        *app.world().resource::<ConnectionStatus>(),
        ConnectionStatus::Idle
    );
}

fn screen(app: &App) -> Screen {
    app.world().resource::<State<Screen>>().get().clone()
}

#[test]
fn screens_follow_the_connection() {
    let mut app = create_test_app();
    assert_eq!(screen(&app), Screen::MainMenu);

    let server = "127.0.0.1:5000".parse().unwrap();
    app.insert_resource(ConnectionStatus::Connecting { server });
    app.update();
    app.update();
    assert_eq!(
        screen(&app),
        Screen::Connecting,
        "connecting shows its screen"
    );

    app.insert_resource(ConnectionStatus::Connected);
    app.update();
    app.update();
    assert_eq!(screen(&app), Screen::InGame, "the welcome starts the game");

    app.insert_resource(ConnectionStatus::Disconnected {
        reason: "the server refused the connection (it may be full)".into(),
    });
    app.update();
    app.update();
    assert_eq!(screen(&app), Screen::Disconnected);
    let mut texts = app.world_mut().query::<&Text>();
    let shown: Vec<String> = texts.iter(app.world()).map(|text| text.0.clone()).collect();
    assert!(
        shown.iter().any(|text| text.contains("may be full")),
        "the reason is shown in words: {shown:?}"
    );
}

#[test]
fn typing_edits_the_focused_field() {
    let mut app = create_test_app();
    let window = app.world_mut().spawn_empty().id();
    let key = |logical_key: Key| KeyboardInput {
        key_code: KeyCode::KeyA,
        logical_key,
        state: ButtonState::Pressed,
        text: None,
        repeat: false,
        window,
    };
    for _ in 0.."Player".len() {
        app.world_mut().write_message(key(Key::Backspace));
    }
    app.world_mut()
        .write_message(key(Key::Character("Ferris".into())));
    app.world_mut().write_message(key(Key::Tab));
    app.world_mut().write_message(key(Key::Backspace));
    app.update();
    let fields = app.world().resource::<MenuFields>();
    assert_eq!(fields.name, "Ferris");
    assert_eq!(
        fields.address, "127.0.0.1:500",
        "Tab moves typing to the address"
    );
}
