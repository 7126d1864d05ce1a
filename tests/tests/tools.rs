//! The set-up script (`scripts/tools.sh`, which `make local` and `make test` run first): a tool
//! the machine lacks is named with the command that installs it, before anything is installed.

use std::os::unix::fs::symlink;
use std::process::Command;

use integration_tests::{repo_root, unique_name};

/// The script run with a PATH that holds `dirname`, python3, java, cargo, curl, pkill and the C
/// and C++ compilers but no npm: it
/// stops at once, exit 1, with one line naming npm and the command that installs it, and has
/// created nothing (`.tools/` is not touched: its first `mkdir` comes after the check).
#[test]
fn a_missing_tool_is_named_with_the_command_that_installs_it_before_anything_is_installed() {
    let bin = std::env::temp_dir().join(unique_name("tools-path"));
    std::fs::create_dir_all(&bin).unwrap();
    // What the script needs before its check of npm, and what installs each (Debian).
    let needed = [
        ("dirname", "sudo apt-get install coreutils"),
        ("python3", "sudo apt-get install python3"),
        ("java", "sudo apt-get install openjdk-17-jre-headless"),
        ("cargo", "curl https://sh.rustup.rs -sSf | sh"),
        ("curl", "sudo apt-get install curl"),
        ("pkill", "sudo apt-get install procps"),
        ("cc", "sudo apt-get install gcc"),
        ("c++", "sudo apt-get install g++"),
    ];
    for (name, install) in needed {
        // python3 as the interpreter itself, not a shim (pyenv's is a bash script).
        let (program, args) = match name {
            "python3" => ("python3", ["-c", "import sys; print(sys.executable)"]),
            _ => ("which", [name, ""]),
        };
        let found = Command::new(program).args(args.iter().filter(|a| !a.is_empty())).output();
        let target = found.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
        assert!(!target.is_empty(), "{name} is not on this machine's PATH (install it: {install})");
        symlink(&target, bin.join(name)).unwrap();
    }
    let tools = repo_root().join(".tools");
    let before = listing(&tools);
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
    assert_eq!(listing(&tools), before, ".tools/ was touched");
    let _ = std::fs::remove_dir_all(&bin);
}

/// `dir`'s entries with their modification times (none when it does not exist).
fn listing(dir: &std::path::Path) -> Vec<(std::ffi::OsString, Option<std::time::SystemTime>)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name(), e.metadata().and_then(|m| m.modified()).ok()))
        .collect();
    entries.sort();
    entries
}
