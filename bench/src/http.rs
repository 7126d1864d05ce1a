//! Just enough HTTP/1.1 for a local Lambda Runtime API and a local counting proxy: keep-alive
//! connections, `Content-Length` and `chunked` bodies, no pipelining (neither the Lambda
//! runtime client nor the AWS SDK pipelines).

use std::io::{self, BufRead, Write};

/// A request or a response: its start line, headers in order, and the whole body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Request method and path (`GET`, `/2018-06-01/runtime/invocation/next`).
    pub fn method_path(&self) -> (&str, &str) {
        let mut parts = self.start.split(' ');
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }

    /// Response status code (0 when the start line is not a status line).
    pub fn status(&self) -> u16 {
        self.start.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads one message; `None` at a clean end of stream before a message starts. A response
/// with neither length nor chunking is read to the end of the stream.
pub fn read_message(r: &mut impl BufRead, is_response: bool) -> io::Result<Option<Message>> {
    let start = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| bad("end of stream inside headers"))?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').ok_or_else(|| bad(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut m = Message { start, headers, body: Vec::new() };
    let chunked = m.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let size_line = read_line(r)?.ok_or_else(|| bad("end of stream inside a chunk size"))?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, if any, until the empty line.
                while read_line(r)?.is_some_and(|l| !l.is_empty()) {}
                break;
            }
            let at = m.body.len();
            m.body.resize(at + size, 0);
            r.read_exact(&mut m.body[at..])?;
            read_line(r)?;
        }
    } else if let Some(len) = m.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad(format!("bad content-length {len:?}")))?;
        m.body.resize(len, 0);
        r.read_exact(&mut m.body)?;
    } else if is_response && !(m.status() == 204 || m.status() == 304 || (100..200).contains(&m.status())) {
        r.read_to_end(&mut m.body)?;
    }
    Ok(Some(m))
}

/// Writes a message with an exact `Content-Length` (any length or chunking header given is
/// replaced), in one write.
pub fn write_message(w: &mut impl Write, start: &str, headers: &[(String, String)], body: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(start.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_length_and_chunked_bodies_on_one_connection() {
        let raw = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nX: y\r\n\r\nabcPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3;x=1\r\n th\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
        let mut r = io::BufReader::new(&raw[..]);
        let a = read_message(&mut r, false).unwrap().unwrap();
        assert_eq!((a.method_path(), a.body.as_slice(), a.header("x")), (("POST", "/a"), &b"abc"[..], Some("y")));
        let b = read_message(&mut r, false).unwrap().unwrap();
        assert_eq!(b.body, b"hi th");
        let c = read_message(&mut r, false).unwrap().unwrap();
        assert_eq!((c.method_path(), c.body.len()), (("GET", "/c"), 0));
        assert!(read_message(&mut r, false).unwrap().is_none());
    }

    #[test]
    fn written_messages_read_back() {
        let mut out = Vec::new();
        write_message(&mut out, "HTTP/1.1 200 OK", &[("content-length".into(), "99".into())], b"{}").unwrap();
        let m = read_message(&mut io::BufReader::new(&out[..]), true).unwrap().unwrap();
        assert_eq!((m.status(), m.body.as_slice()), (200, &b"{}"[..]));
    }
}
