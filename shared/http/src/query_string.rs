//! A query string as `application/x-www-form-urlencoded` pairs, decoded strictly: a `+` is a
//! space and `%XX` a byte, and the bytes of a name or value must spell UTF-8. A lossy decoding
//! (`form_urlencoded::parse`) turned `filter.cluster=%FF` or a Latin-1 `%E9chec` into U+FFFD,
//! and the answer was a wrong empty page instead of a 400 naming the parameter.

use percent_encoding::percent_decode;

use crate::params::ParamError;

/// The pairs of `query` in order; empty pieces (`a=1&&b=2`) are skipped, and a piece without
/// `=` is a name with an empty value, as a form would send them.
pub fn pairs(query: &str) -> Result<Vec<(String, String)>, ParamError> {
    let mut out = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = decoded(name).map_err(|lossy| ParamError::NotUtf8 { name: crate::echo(&lossy) })?;
        let value = decoded(value).map_err(|_| ParamError::NotUtf8 { name: crate::echo(&name) })?;
        out.push((name, value));
    }
    Ok(out)
}

/// `s` decoded; `Err` with its lossy decoding when its bytes are not UTF-8.
fn decoded(s: &str) -> Result<String, String> {
    let spaced = s.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    String::from_utf8(bytes).map_err(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn pairs_are_decoded_as_a_form_sends_them() {
        assert_eq!(
            pairs(
                "filter.search=a+b%2Bc&&filter.cluster=%C3%A9chec&flag&filter.from=2026-11-25T12:00:00%2B02:00&x=%zz"
            ),
            Ok(vec![
                pair("filter.search", "a b+c"),
                pair("filter.cluster", "échec"),
                pair("flag", ""),
                pair("filter.from", "2026-11-25T12:00:00+02:00"),
                pair("x", "%zz"),
            ])
        );
        assert_eq!(pairs(""), Ok(vec![]));
    }

    /// The same pairs `form_urlencoded::parse` gives, wherever the bytes are UTF-8.
    #[test]
    fn a_value_or_name_whose_escapes_are_not_utf8_is_refused_by_name() {
        assert_eq!(pairs("filter.cluster=%FF"), Err(ParamError::NotUtf8 { name: "filter.cluster".into() }));
        assert_eq!(pairs("a=1&filter.search=%E9chec"), Err(ParamError::NotUtf8 { name: "filter.search".into() }));
        assert_eq!(pairs("filter%FF=1"), Err(ParamError::NotUtf8 { name: "filter\u{FFFD}".into() }));
        assert_eq!(
            ParamError::NotUtf8 { name: "filter.search".into() }.to_string(),
            "filter.search: its percent-escapes must spell UTF-8 text (é is %C3%A9)"
        );
    }
}
