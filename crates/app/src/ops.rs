//! Operating a secure server: its private key (`keygen`, and reading it back), connect tokens
//! (`token`), and the health check a container runs (`healthcheck`). Keys never appear in
//! messages, and key files are made readable by their owner only.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use skirmish_net::tokens::{self, PrivateKey, TokenRequest};

use crate::{Game, env_prefix};

/// The environment variable holding the key in text, `<PREFIX>PRIVATE_KEY` (see
/// [`env_prefix`]): named in messages, never the key itself.
pub fn key_env<G: Game>() -> String {
    format!("{}PRIVATE_KEY", env_prefix::<G>())
}

/// Reads the private key from `key_file`, or else from the variable `key_env` names.
/// `Ok(None)` when neither is given. Errors name the setting and never contain the key.
pub fn load_key(key_file: Option<&Path>, key_env: &str) -> Result<Option<PrivateKey>, String> {
    if let Some(path) = key_file {
        let bytes = std::fs::read(path)
            .map_err(|err| format!("--key-file {}: cannot read it: {err}", path.display()))?;
        // Text (hex or base64, as `keygen` writes), or else 32 raw bytes. Text first, so a
        // short text key is reported as short rather than taken as raw bytes.
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|_| "not hex or base64 text".to_owned())
            .and_then(tokens::parse_private_key);
        return match (parsed, PrivateKey::try_from(bytes.as_slice())) {
            (Ok(key), _) | (Err(_), Ok(key)) => Ok(Some(key)),
            (Err(err), Err(_)) => Err(format!("--key-file {}: {err}", path.display())),
        };
    }
    match std::env::var(key_env) {
        Ok(text) => tokens::parse_private_key(&text)
            .map(Some)
            .map_err(|err| format!("{key_env}: {err}")),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{key_env}: not valid text")),
    }
}

#[derive(clap::Args, Debug)]
#[allow(clippy::doc_markdown, reason = "clap help text, shown as written")]
pub(crate) struct TokenArgs {
    /// The server's private key file (or set the `*_PRIVATE_KEY` variable).
    #[arg(long, env = "SKIRMISH_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Server address(es) the token is valid for, comma-separated: the server's public address.
    #[arg(long, required = true, value_delimiter = ',')]
    server: Vec<SocketAddr>,
    /// The client's id on the server: unique among its connected clients, and not one the game
    /// reserves for its bots.
    #[arg(long)]
    client_id: u64,
    /// Seconds the token may be used to start connecting.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400 * 30))]
    expires: u64,
    /// Seconds without an answer before the client gives up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,
}

/// `token`: prints a connect token for `G`'s secure server.
pub(crate) fn token<G: Game>(args: &TokenArgs) -> ExitCode {
    let name = G::NAME;
    let reserved = G::RESERVED_CLIENT_IDS;
    if reserved.contains(&args.client_id) {
        eprintln!(
            "{name} token: --client-id {}: reserved for the server's bots ({:#x}..{:#x}); the \
             server refuses it",
            args.client_id, reserved.start, reserved.end
        );
        return ExitCode::from(2);
    }
    if let Some(warning) = args.key_file.as_deref().and_then(key_file_warning) {
        eprintln!("{name} token: warning: {warning}");
    }
    let key_env = key_env::<G>();
    let key = match load_key(args.key_file.as_deref(), &key_env) {
        Ok(Some(key)) => key,
        Ok(None) => {
            eprintln!("{name} token: no private key: give --key-file FILE or set {key_env}");
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!("{name} token: {err}");
            return ExitCode::from(2);
        }
    };
    let request = TokenRequest {
        protocol_id: G::PROTOCOL.id,
        client_id: args.client_id,
        server_addresses: args.server.clone(),
        expires_in: Duration::from_secs(args.expires),
        timeout: Duration::from_secs(args.timeout),
    };
    match tokens::mint_token(&key, &request) {
        Ok(token) => {
            println!("{}", tokens::token_to_text(&token));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{name} token: {err}");
            ExitCode::from(2)
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Write the key to this file, created readable by you only (mode 0600), instead of printing
    /// it. Refuses to replace an existing file without --force.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace FILE if it exists (atomically, by a new 0600 file).
    #[arg(long, requires = "out")]
    force: bool,
}

/// `keygen`: makes a new private key, printed or written to a file only its owner can read.
pub(crate) fn keygen<G: Game>(args: &KeygenArgs) -> ExitCode {
    let name = G::NAME;
    let key = tokens::generate_private_key();
    let Some(path) = &args.out else {
        if let Some(mode) = stdout_file_mode().filter(|mode| mode & 0o077 != 0) {
            eprintln!(
                "{name} keygen: warning: the key goes to a file other users can access (mode \
                 {mode:04o}): run `chmod 600` on it, or use `{name} keygen --out FILE`"
            );
        }
        println!("{key}");
        return ExitCode::SUCCESS;
    };
    match write_private_file(path, format!("{key}\n").as_bytes(), args.force) {
        Ok(()) => {
            eprintln!(
                "{name} keygen: wrote a new private key to {} (mode 0600)",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "{name} keygen: --out {}: already exists (pass --force to replace it)",
                path.display()
            );
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("{name} keygen: --out {}: {err}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// The permission bits of the regular file standard output goes to (a shell redirect), if it
/// goes to one.
fn stdout_file_mode() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::PermissionsExt;
        let stdout = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
        let metadata = std::fs::File::from(stdout).metadata().ok()?;
        metadata
            .is_file()
            .then(|| metadata.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    None
}

/// Writes `contents` to a new file at `path` that only its owner can read or write (mode 0600 on
/// Unix). Fails if `path` exists, unless `replace`: then the contents go to a new 0600 file beside
/// it that is renamed over `path` (never writing through an existing file, its mode or a
/// symlink).
fn write_private_file(path: &Path, contents: &[u8], replace: bool) -> std::io::Result<()> {
    let create = |path: &Path| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    if !replace {
        return create(path);
    }
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let written = create(&temporary).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// A warning when other users may read or change the key file at `path` (Unix permissions).
pub(crate) fn key_file_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Some(format!(
                "--key-file {}: other users can access the private key (mode {mode:04o}); run \
                 `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

#[derive(clap::Args, Debug)]
pub(crate) struct HealthcheckArgs {
    /// The health endpoint to ask.
    #[arg(long, default_value = "http://127.0.0.1:9100/healthz")]
    url: String,
}

/// `healthcheck`: exit 0 when the health endpoint answers 200.
pub(crate) fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    match agent.get(&args.url).call() {
        Ok(response) if response.status() == 200 => ExitCode::SUCCESS,
        Ok(mut response) => {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            eprintln!("unhealthy ({}): {}", response.status(), body.trim());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("no answer from {}: {err}", args.url);
            ExitCode::FAILURE
        }
    }
}
