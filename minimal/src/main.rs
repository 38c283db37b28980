//! The `gems` launcher: the shell's modes for Gems.

fn main() -> std::process::ExitCode {
    skirmish_app::run::<minimal_game::Gems>()
}
