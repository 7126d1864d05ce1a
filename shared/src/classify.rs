// TEMPORARY STUB (owner: main engineer) — the classification helper replaces this whole file.
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason { RegistryUnauthorized, ImageNotFound, NoRegistryIntegration, NoScannerIntegration, ScannerUnavailable, Timeout, RateLimited, UnsupportedImage, ImageTooLarge, InvalidImageName, DelegatedScanFailed, InternalError, Unknown }
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level { Error, Warning }
impl Level { pub fn as_str(self) -> &'static str { match self { Self::Error => "ERROR", Self::Warning => "WARNING" } } }
impl Reason {
    pub fn code(self) -> &'static str { match self { Self::Timeout => "TIMEOUT", Self::Unknown => "UNKNOWN", _ => "OTHER" } }
    pub fn level(self) -> Level { Level::Error }
}
pub fn classify(_code: Option<&str>, message: &str) -> Reason { if message.contains("deadline") { Reason::Timeout } else { Reason::Unknown } }
pub fn mask_variable_parts(message: &str) -> String { message.chars().filter(|c| !c.is_ascii_digit()).collect() }
