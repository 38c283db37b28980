//! `skirmish-net` is the netcode under any game: it depends on no Skirmish crate and names none of
//! the demo's types (neither do its tests), so a forker never has to edit it.

/// This crate's directory. Read at run time (cargo sets it for tests): a build reused from a
/// checkout elsewhere (a shared target directory) would carry that checkout's path.
fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

#[test]
fn depends_on_no_game_crate() {
    let manifest = std::fs::read_to_string(crate_dir().join("Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap();
    let names: Vec<&str> = dependencies
        .lines()
        .filter_map(|line| line.split(['.', '=', ' ']).next())
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        .collect();
    assert!(names.contains(&"bevy"), "the list was read: {names:?}");
    for name in &names {
        assert!(
            !name.starts_with("skirmish"),
            "skirmish-net depends on {name}"
        );
    }
}

#[test]
fn names_none_of_the_demos_types() {
    // The demo's components, events and systems.
    const DEMO: [&str; 19] = [
        "Health",
        "Killed",
        "SetName",
        "PlayerName",
        "Weapon",
        "Rotation",
        "BOT_IDS",
        "Score",
        "Kill",
        "KillFeed",
        "Projectile",
        "ARENA_HALF",
        "BotPlugin",
        "PlayerSlot",
        "InputFrame",
        "PlayerInput",
        "Position",
        "Velocity",
        "Gems",
    ];
    // The crate and its own tests (all but this file, which lists the names).
    let mut stack = vec![crate_dir().join("src"), crate_dir().join("tests")];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.ends_with("no_game_types.rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for word in text.split(|c: char| !c.is_alphanumeric() && c != '_') {
                assert!(
                    !DEMO.contains(&word),
                    "{} names the demo's `{word}`",
                    path.display()
                );
            }
        }
    }
    assert!(files > 5, "the sources were read");
}
