//! The game's screens as a Bevy [`States`] enum, each with its own UI scoped to it:
//! main menu (name, address, Host, Join, Quit) -> connecting (Cancel) -> in game (Esc leaves) ->
//! disconnected (the reason, Back).

use std::net::SocketAddr;

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;

use crate::assets::GameAssets;
use crate::net::{ConnectionStatus, connect};

/// Which screen is showing.
#[derive(States, Debug, Default, Clone, PartialEq, Eq, Hash)]
pub enum Screen {
    /// Name, address, Host, Join, Quit.
    #[default]
    MainMenu,
    /// Waiting for the server's welcome.
    Connecting,
    /// Playing.
    InGame,
    /// The connection ended; shows why.
    Disconnected,
}

/// Starts a local server and returns its address; the launcher provides it (the client crate
/// does not depend on the server).
#[derive(Resource)]
pub struct HostGame(pub Box<dyn Fn() -> Result<SocketAddr, String> + Send + Sync>);

/// What the menu fields hold.
#[derive(Resource, Debug, Clone)]
pub struct MenuFields {
    /// Player name.
    pub name: String,
    /// Server address to join.
    pub address: String,
    /// Which field the keyboard types into (0 name, 1 address).
    focus: usize,
    /// Last error to show.
    error: String,
}

impl Default for MenuFields {
    fn default() -> Self {
        Self {
            name: "Player".into(),
            address: "127.0.0.1:5000".into(),
            focus: 0,
            error: String::new(),
        }
    }
}

/// Why the last connection ended, for the Disconnected screen.
#[derive(Resource, Debug, Default, Clone)]
struct LastReason(String);

#[derive(Component, Clone, Copy, PartialEq, Eq)]
enum MenuButton {
    NameField,
    AddressField,
    Host,
    Join,
    Quit,
    Cancel,
    Back,
}

#[derive(Component)]
struct FieldText(usize);

#[derive(Component)]
struct ErrorText;

pub(super) fn plugin(app: &mut App) {
    app.init_state::<Screen>()
        .init_resource::<MenuFields>()
        .init_resource::<LastReason>()
        .add_systems(OnEnter(Screen::MainMenu), spawn_main_menu)
        .add_systems(OnEnter(Screen::Connecting), spawn_connecting)
        .add_systems(OnEnter(Screen::Disconnected), spawn_disconnected)
        .add_systems(
            Update,
            (
                (type_into_fields, show_fields).run_if(in_state(Screen::MainMenu)),
                press_buttons,
                follow_connection,
                leave_on_escape.run_if(in_state(Screen::InGame)),
            ),
        );
}

fn panel(screen: Screen) -> impl Bundle {
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

fn label(text: impl Into<String>, size: f32) -> impl Bundle {
    (
        Text::new(text),
        TextFont::from_font_size(size),
        TextColor(Color::srgb(0.92, 0.94, 0.97)),
    )
}

fn title(text: &str, font: TextFont) -> impl Bundle {
    (
        Text::new(text),
        font,
        TextColor(Color::srgb(1.0, 0.8, 0.35)),
    )
}

fn button(kind: MenuButton, text: &str) -> impl Bundle {
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

fn spawn_main_menu(mut commands: Commands, fields: Res<MenuFields>, assets: Res<GameAssets>) {
    commands.spawn((
        Name::new("Main menu"),
        panel(Screen::MainMenu),
        children![
            title("SKIRMISH", assets.bold(64.0)),
            label("Name (click a field, then type)", 16.0),
            (
                button(MenuButton::NameField, &format!("{}_", fields.name)),
                FieldText(0)
            ),
            label("Server address", 16.0),
            (
                button(MenuButton::AddressField, &fields.address),
                FieldText(1)
            ),
            button(MenuButton::Host, "Host a game"),
            button(MenuButton::Join, "Join"),
            button(MenuButton::Quit, "Quit"),
            (ErrorText, label(fields.error.clone(), 18.0)),
        ],
    ));
}

fn spawn_connecting(mut commands: Commands, status: Res<ConnectionStatus>) {
    let line = match &*status {
        ConnectionStatus::Connecting { server } => format!("Connecting to {server}..."),
        _ => "Connecting...".to_owned(),
    };
    commands.spawn((
        Name::new("Connecting"),
        panel(Screen::Connecting),
        children![label(line, 28.0), button(MenuButton::Cancel, "Cancel")],
    ));
}

fn spawn_disconnected(mut commands: Commands, reason: Res<LastReason>, assets: Res<GameAssets>) {
    commands.spawn((
        Name::new("Disconnected"),
        panel(Screen::Disconnected),
        children![
            title("Disconnected", assets.bold(40.0)),
            label(reason.0.clone(), 22.0),
            button(MenuButton::Back, "Back to menu"),
        ],
    ));
}

/// Typing into the focused menu field.
fn type_into_fields(mut keys: MessageReader<KeyboardInput>, mut fields: ResMut<MenuFields>) {
    for key in keys.read() {
        if key.state != ButtonState::Pressed {
            continue;
        }
        let field = if fields.focus == 0 {
            &mut fields.name
        } else {
            &mut fields.address
        };
        match &key.logical_key {
            Key::Backspace => {
                field.pop();
            }
            Key::Tab => fields.focus = 1 - fields.focus,
            Key::Character(text) if field.chars().count() < 32 => {
                field.extend(text.chars().filter(|c| !c.is_control()));
            }
            _ => {}
        }
    }
}

fn show_fields(
    fields: Res<MenuFields>,
    holders: Query<(&FieldText, &Children)>,
    mut texts: Query<&mut Text>,
    mut errors: Query<Entity, With<ErrorText>>,
) {
    if !fields.is_changed() {
        return;
    }
    for (field, children) in &holders {
        let value = if field.0 == 0 {
            &fields.name
        } else {
            &fields.address
        };
        let cursor = if fields.focus == field.0 { "_" } else { "" };
        for child in children {
            if let Ok(mut text) = texts.get_mut(*child) {
                text.0 = format!("{value}{cursor}");
            }
        }
    }
    for entity in &mut errors {
        if let Ok(mut text) = texts.get_mut(entity) {
            text.0.clone_from(&fields.error);
        }
    }
}

fn press_buttons(world: &mut World) {
    let mut pressed = world.query_filtered::<(&Interaction, &MenuButton), Changed<Interaction>>();
    let clicked: Vec<MenuButton> = pressed
        .iter(world)
        .filter(|(interaction, _)| **interaction == Interaction::Pressed)
        .map(|(_, button)| *button)
        .collect();
    for button in clicked {
        match button {
            MenuButton::NameField => world.resource_mut::<MenuFields>().focus = 0,
            MenuButton::AddressField => world.resource_mut::<MenuFields>().focus = 1,
            MenuButton::Host => {
                let hosted = world
                    .get_resource::<HostGame>()
                    .map(|host| (host.0)())
                    .unwrap_or_else(|| Err("this build cannot host".into()));
                match hosted {
                    Ok(addr) => start_connecting(world, addr),
                    Err(err) => world.resource_mut::<MenuFields>().error = err,
                }
            }
            MenuButton::Join => {
                let address = world.resource::<MenuFields>().address.clone();
                match address.trim().parse::<SocketAddr>() {
                    Ok(addr) => start_connecting(world, addr),
                    Err(_) => {
                        world.resource_mut::<MenuFields>().error =
                            format!("{address:?} is not an address like 127.0.0.1:5000");
                    }
                }
            }
            MenuButton::Quit => {
                world.write_message(AppExit::Success);
            }
            MenuButton::Cancel => leave(world),
            MenuButton::Back => {
                world
                    .resource_mut::<NextState<Screen>>()
                    .set(Screen::MainMenu);
            }
        }
    }
}

fn start_connecting(world: &mut World, addr: SocketAddr) {
    let name = world.resource::<MenuFields>().name.clone();
    match connect(world, addr, &name) {
        Ok(_) => {
            world.resource_mut::<MenuFields>().error.clear();
            world
                .resource_mut::<NextState<Screen>>()
                .set(Screen::Connecting);
        }
        Err(err) => world.resource_mut::<MenuFields>().error = err.to_string(),
    }
}

/// Leaves the game or cancels connecting, back to the menu.
fn leave(world: &mut World) {
    crate::net::disconnect(world);
    world
        .resource_mut::<NextState<Screen>>()
        .set(Screen::MainMenu);
}

fn leave_on_escape(world: &mut World) {
    if world
        .resource::<ButtonInput<KeyCode>>()
        .just_pressed(KeyCode::Escape)
    {
        leave(world);
    }
}

/// Moves between screens as the connection progresses.
fn follow_connection(
    status: Res<ConnectionStatus>,
    screen: Res<State<Screen>>,
    mut next: ResMut<NextState<Screen>>,
    mut reason: ResMut<LastReason>,
) {
    if !status.is_changed() {
        return;
    }
    match (&*status, screen.get()) {
        (ConnectionStatus::Connecting { .. }, Screen::MainMenu | Screen::Disconnected) => {
            next.set(Screen::Connecting);
        }
        (ConnectionStatus::Connected, Screen::Connecting | Screen::MainMenu) => {
            next.set(Screen::InGame);
        }
        (ConnectionStatus::Disconnected { reason: why }, Screen::Connecting | Screen::InGame) => {
            reason.0.clone_from(why);
            next.set(Screen::Disconnected);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use bevy::state::app::StatesPlugin;

    use super::*;
    use crate::ClientPlugin;
    use crate::test_support::count_named;

    fn create_test_app() -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, AssetPlugin::default()))
            .init_asset::<Image>()
            .init_asset::<Font>();
        let assets = GameAssets::load(app.world_mut());
        app.insert_resource(assets)
            .add_plugins((ClientPlugin, plugin))
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

    fn go_to(app: &mut App, screen: Screen) {
        app.world_mut()
            .resource_mut::<NextState<Screen>>()
            .set(screen);
        app.update();
    }

    #[test]
    fn nothing_of_the_game_screen_stays_on_the_menu() {
        let mut app = create_test_app();
        app.init_resource::<crate::render::OverlayShown>()
            .add_systems(
                OnEnter(Screen::InGame),
                (
                    crate::render::arena::spawn_arena,
                    crate::render::hud::spawn_hud,
                    crate::render::overlay::spawn_overlay,
                ),
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
        .insert_resource(crate::ConnectTimeout(std::time::Duration::from_millis(300)));

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
        app.world_mut().resource_mut::<MenuFields>().address =
            silent.local_addr().unwrap().to_string();
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
}
