//! The windowed modes (`play`, `client`), or a clear message in a build without `render`.

use std::process::ExitCode;

use crate::Game;
use crate::cli::{ClientArgs, PlayArgs};

/// `play`: hosts a server on a thread and opens the window connected to it.
pub(crate) fn play<G: Game>(args: PlayArgs<G::HostArgs>) -> ExitCode {
    #[cfg(feature = "render")]
    return crate::client::window::play::<G>(args);
    #[cfg(not(feature = "render"))]
    {
        let _ = args;
        unavailable::<G>()
    }
}

/// `client`: opens the window and joins a server.
pub(crate) fn join<G: Game>(args: ClientArgs) -> ExitCode {
    #[cfg(feature = "render")]
    return crate::client::window::join::<G>(args);
    #[cfg(not(feature = "render"))]
    {
        let _ = args;
        unavailable::<G>()
    }
}

#[cfg(not(feature = "render"))]
fn unavailable<G: Game>() -> ExitCode {
    let name = G::NAME;
    eprintln!(
        "{name}: this build has no game window (built without the `render` feature).\n\
         Use `{name} server` for a headless server, or rebuild with default features."
    );
    ExitCode::from(1)
}
