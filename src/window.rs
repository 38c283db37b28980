//! The windowed modes (`play`, `client`), or a clear message in a build without `render`.

pub(crate) use imp::{join, play};

#[cfg(feature = "render")]
mod imp {
    //! The windowed modes: host (`play`) and join (`client`).

    use std::net::{Ipv4Addr, SocketAddr};
    use std::process::ExitCode;

    use skirmish_client::screens::{HostGame, MenuFields};
    use skirmish_net::socket::LinkConditioner;
    use skirmish_net::tokens::token_from_text;
    use skirmish_server::ServerSettings;

    use crate::{ClientArgs, PlayArgs};

    pub(crate) fn play(args: PlayArgs) -> ExitCode {
        if let Err(code) = check_display() {
            return code;
        }
        let settings = ServerSettings {
            bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), args.port),
            max_clients: 16,
            bots: usize::from(args.bots),
            bot_skill: args.bot_skill.into(),
            arena: skirmish_shared::arena::Arena::new(args.arena),
            ..ServerSettings::default()
        };
        let server = match skirmish_server::spawn_local_server(settings.clone()) {
            Ok(addr) => addr,
            Err(err) => {
                eprintln!("skirmish: could not start the local server: {err}");
                return ExitCode::from(2);
            }
        };
        run_window(
            Target::Address(server),
            &args.name,
            LinkConditioner::default(),
        )
    }

    pub(crate) fn join(args: ClientArgs) -> ExitCode {
        let target = match (args.connect, &args.token) {
            (_, Some(token)) => match token_from_text(token) {
                Ok(token) => Target::Token(Box::new(token)),
                Err(err) => {
                    eprintln!("skirmish client: --token: {err}");
                    return ExitCode::from(2);
                }
            },
            (Some(addr), None) => Target::Address(addr),
            (None, None) => unreachable!("clap requires --connect or --token"),
        };
        if let Err(code) = check_display() {
            return code;
        }
        run_window(target, &args.name, args.sim.conditioner())
    }

    /// Where to connect: an unsecure server's address, or a connect token.
    enum Target {
        Address(SocketAddr),
        Token(Box<skirmish_net::netcode::ConnectToken>),
    }

    fn run_window(target: Target, name: &str, conditioner: LinkConditioner) -> ExitCode {
        let mut app = skirmish_client::render::window_app();
        // The menu's "Host a game" starts another local server (with bots) on a free port.
        app.insert_resource(HostGame(Box::new(|| {
            let settings = ServerSettings {
                bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
                bots: 3,
                bot_skill: skirmish_server::bots::BotSkill::Easy,
                ..ServerSettings::default()
            };
            skirmish_server::spawn_local_server(settings).map_err(|err| err.to_string())
        })));
        app.world_mut().resource_mut::<MenuFields>().name = name.to_owned();
        let connected = match target {
            Target::Address(server) => {
                skirmish_client::connect_with(app.world_mut(), server, name, conditioner)
            }
            Target::Token(token) => {
                skirmish_client::connect_with_token(app.world_mut(), *token, name, conditioner)
            }
        };
        if let Err(err) = connected {
            eprintln!("skirmish: {err}");
            return ExitCode::from(2);
        }
        app.run();
        ExitCode::SUCCESS
    }

    /// On Linux, a window needs an X11 display; say so plainly instead of panicking in winit.
    fn check_display() -> Result<(), ExitCode> {
        // winit takes an empty DISPLAY for none at all.
        let display = std::env::var_os("DISPLAY").filter(|display| !display.is_empty());
        if cfg!(target_os = "linux") && display.is_none() {
            eprintln!(
                "skirmish: no display found (DISPLAY is not set or empty), so the game window cannot open.\n\
                 To run a headless dedicated server on this machine instead, use:\n\n    \
                 skirmish server        (or: cargo run --release -- server)"
            );
            return Err(ExitCode::from(1));
        }
        Ok(())
    }
}

#[cfg(not(feature = "render"))]
mod imp {
    //! Built without the `render` feature: only the headless server is available.

    use std::process::ExitCode;

    use crate::{ClientArgs, PlayArgs};

    fn unavailable() -> ExitCode {
        eprintln!(
            "skirmish: this build has no game window (built without the `render` feature).\n\
             Use `skirmish server` for a headless server, or rebuild with default features."
        );
        ExitCode::from(1)
    }

    pub(crate) fn play(_: PlayArgs) -> ExitCode {
        unavailable()
    }

    pub(crate) fn join(_: ClientArgs) -> ExitCode {
        unavailable()
    }
}
