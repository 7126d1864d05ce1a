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
}
