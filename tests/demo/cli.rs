//! The launcher as a user meets it: run the real `skirmish` binary and check what it says.

use std::process::Command;

fn skirmish() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skirmish"))
}

#[test]
fn window_mode_without_a_display_points_to_the_headless_server() {
    // No DISPLAY at all, and an empty one (`DISPLAY= cargo run`), which winit takes for none.
    for empty in [false, true] {
        let mut command = skirmish();
        command.env_remove("WAYLAND_DISPLAY");
        if empty {
            command.env("DISPLAY", "");
        } else {
            command.env_remove("DISPLAY");
        }
        let output = command.output().expect("run skirmish");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
        assert!(stderr.contains("no display"), "says why: {stderr}");
        assert!(
            stderr.contains("skirmish server"),
            "names the alternative: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    }
}

#[test]
fn bad_server_settings_exit_2_naming_the_setting() {
    for (args, setting) in [
        (&["server", "--port", "70000"][..], "--port"),
        (&["server", "--max-clients", "0"][..], "--max-clients"),
        (&["server", "--sim-loss", "1.5"][..], "--sim-loss"),
        (&["server", "--bind", "not-an-ip"][..], "--bind"),
        (&["server", "--arena", "9"][..], "--arena"),
        (&["play", "--arena", "0"][..], "--arena"),
    ] {
        let output = skirmish().args(args).output().expect("run skirmish");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(setting),
            "{args:?} must name {setting}: {stderr}"
        );
    }
}

#[test]
fn settings_can_come_from_the_environment() {
    let output = skirmish()
        .args(["server"])
        .env("SKIRMISH_PORT", "99999")
        .output()
        .expect("run skirmish");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--port"), "names the setting: {stderr}");
}

#[test]
fn help_lists_every_mode() {
    let output = skirmish().arg("--help").output().expect("run skirmish");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for mode in ["play", "server", "client", "bench", "bots"] {
        assert!(stdout.contains(mode), "--help lists {mode}: {stdout}");
    }
}
