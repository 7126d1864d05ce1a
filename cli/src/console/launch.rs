//! Opening the console in the desktop's browser without putting its token on a command line:
//! the opener is given a file only the user can read, which sends the browser on to the URL.
//! (A command line is readable by every local user in `/proc/<pid>/cmdline`, the browser's own
//! included when the opener starts it; the token is the key to the admin's credentials.)

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The page that sends the browser to `url`.
pub fn redirect_page(url: &str) -> String {
    format!(
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={url}\">\
         <title>scanfail console</title><a href=\"{url}\">Open the console</a>\n"
    )
}

/// How long the redirect file is kept after the opener started: time for a browser to start
/// and read it. Then it is removed, so no run leaves its token behind on disk.
pub const REDIRECT_KEPT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where the redirect file is written: the user's own runtime directory (`XDG_RUNTIME_DIR`,
/// mode 0700, emptied at logout) when there is one, else the temporary directory.
pub fn redirect_dir(var: impl Fn(&str) -> Option<String>) -> PathBuf {
    var("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_absolute()).map_or_else(std::env::temp_dir, PathBuf::from)
}

/// Opens `url` with `opener` through a redirect file in `dir` ([`write_redirect`]), removed
/// after `kept` on a thread of its own (the console serves meanwhile; it removes the file
/// itself when stopped sooner); the file's path, or why it could not be opened (the file then
/// removed at once).
pub fn open_through_file(
    opener: &str,
    dir: &Path,
    port: u16,
    url: &str,
    kept: std::time::Duration,
) -> Result<PathBuf, String> {
    let page =
        write_redirect(dir, port, url).map_err(|e| format!("could not write the page that opens the console ({e})"))?;
    match std::process::Command::new(opener).arg(&page).spawn() {
        Ok(mut child) => {
            // Reaped by its own thread: the opener returns at once, or when the browser closes.
            std::thread::spawn(move || child.wait());
            let removed = page.clone();
            std::thread::spawn(move || {
                std::thread::sleep(kept);
                let _ = std::fs::remove_file(&removed);
            });
            Ok(page)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&page);
            Err(format!("could not run {opener} ({e})"))
        }
    }
}

/// Writes [`redirect_page`] for `url` to a new file in `dir`, readable and writable by the user
/// alone; its path, which holds no token.
pub fn write_redirect(dir: &Path, port: u16, url: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("scanfail-console-{port}-{}.html", std::process::id()));
    // A new file, never one that exists (another user's, or a link planted in a shared /tmp).
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(redirect_page(url).as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_redirect_is_the_users_alone_and_its_path_holds_no_token() {
        let dir = std::env::temp_dir().join(format!("scanfail-launch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = "http://127.0.0.1:4711/#token=0123456789abcdef";
        let path = write_redirect(&dir, 4711, url).unwrap();
        assert!(!path.to_string_lossy().contains("0123456789abcdef"), "{}", path.display());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), redirect_page(url));
        assert!(redirect_page(url).contains("content=\"0;url=http://127.0.0.1:4711/#token=0123456789abcdef\""));
        // Never over a file that exists.
        assert_eq!(write_redirect(&dir, 4711, url).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_redirect_file_is_removed_once_the_browser_had_time_to_read_it() {
        let dir = std::env::temp_dir().join(format!("scanfail-launch-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kept = std::time::Duration::from_millis(300);
        let page = open_through_file("true", &dir, 4712, "http://127.0.0.1:4712/#token=ab", kept).unwrap();
        assert!(page.exists(), "there for the browser to read");
        std::thread::sleep(kept * 4);
        assert!(!page.exists(), "removed after {kept:?}");
        // An opener that cannot run: said, and the file removed at once.
        let missing = open_through_file("/nonexistent/opener", &dir, 4713, "http://127.0.0.1:4713/", kept);
        assert_eq!(missing.unwrap_err(), "could not run /nonexistent/opener (No such file or directory (os error 2))");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_redirect_goes_to_the_users_runtime_directory_when_there_is_one() {
        let with = |value: Option<&str>| redirect_dir(|name| (name == "XDG_RUNTIME_DIR").then_some(value?.to_owned()));
        assert_eq!(with(Some("/run/user/1000")), PathBuf::from("/run/user/1000"));
        assert_eq!(with(None), std::env::temp_dir());
        assert_eq!(with(Some("relative")), std::env::temp_dir(), "a relative path is not trusted");
    }
}
