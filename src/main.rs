//! The `skirmish` launcher: the shell's modes (`play`, `server`, `client`, `token`, `keygen`,
//! `healthcheck`, `bots`) for the demo, and its `bench`.

fn main() -> std::process::ExitCode {
    skirmish_app::run::<skirmish::Skirmish>()
}
