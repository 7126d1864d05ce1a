//! The set-up script (`scripts/tools.sh`, which `make local` and `make test` run first): a tool
//! the machine lacks is named with the command that installs it, before anything is installed.

use std::os::unix::fs::symlink;
use std::process::Command;

use integration_tests::{repo_root, unique_name};

/// The script run with a PATH that holds `dirname`, python3, java, cargo, curl and pkill but no npm: it
/// stops at once, exit 1, with one line naming npm and the command that installs it, and has
/// created nothing (`.tools/` is not touched: its first `mkdir` comes after the check).
#[test]
fn a_missing_tool_is_named_with_the_command_that_installs_it_before_anything_is_installed() {
    let bin = std::env::temp_dir().join(unique_name("tools-path"));
    std::fs::create_dir_all(&bin).unwrap();
    let real = |name: &str, args: &[&str]| {
        let out = Command::new(name).args(args).output().unwrap_or_else(|e| panic!("{name}: {e}"));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let python = real("python3", &["-c", "import sys; print(sys.executable)"]);
    for (name, target) in [
        ("dirname", real("which", &["dirname"])),
        ("python3", python),
        ("java", real("which", &["java"])),
        ("cargo", real("which", &["cargo"])),
        ("curl", real("which", &["curl"])),
        ("pkill", real("which", &["pkill"])),
    ] {
        assert!(!target.is_empty(), "{name} is not on this machine's PATH");
        symlink(&target, bin.join(name)).unwrap();
    }
    let out = Command::new("/bin/bash")
        .arg(repo_root().join("scripts/tools.sh"))
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (out.status.code(), stderr.as_ref(), out.stdout.is_empty()),
        (Some(1), "tools: missing: npm (install it: sudo apt-get install npm)\n", true)
    );
    let _ = std::fs::remove_dir_all(&bin);
}
