//! A proxy in front of DynamoDB Local for the DynamoDB Streams API, so that the AWS SDK (the
//! maintenance function's redrive) can read its stream. DynamoDB Local 3.x writes an empty map in
//! a stream image as `{}` rather than `{"M": {}}`, which the SDK's strict union parser refuses
//! and DynamoDB itself never sends; the proxy rewrites those values in `GetRecords` answers
//! ([`super::streams::repair_empty_maps`]) and passes every other byte, status and error
//! (`TrimmedDataAccessException`, `ResourceNotFoundException`) through unchanged. A test may
//! also have it change what DynamoDB answers ([`start_rewriting`]), for any operation.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::streams::repair_empty_maps;

/// A running proxy; it lives as long as the test process.
pub struct StreamsProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the SDK (`AWS_ENDPOINT_URL_DYNAMODB_STREAMS`).
    pub endpoint: String,
}

/// Starts a proxy to DynamoDB Local at `upstream` (`http://host:port`) on a free port.
pub fn start(upstream: &str) -> StreamsProxy {
    start_on(upstream, 0).expect("bind the streams proxy")
}

/// What a test has the proxy change in a successful answer: called with the operation
/// (`GetRecords`, `GetItem`, …) and the answer's JSON, once `GetRecords`' images are repaired.
pub type Rewrite = fn(&str, &mut Value);

/// Starts a proxy that also passes each successful answer through `rewrite`: what a test needs
/// DynamoDB to send that DynamoDB Local does not.
pub fn start_rewriting(upstream: &str, rewrite: Rewrite) -> StreamsProxy {
    start_with(upstream, 0, rewrite).expect("bind the streams proxy")
}

/// Starts a proxy to DynamoDB Local at `upstream` on `port` (0: a free one).
pub fn start_on(upstream: &str, port: u16) -> std::io::Result<StreamsProxy> {
    start_with(upstream, port, |_, _| {})
}

fn start_with(upstream: &str, port: u16, rewrite: Rewrite) -> std::io::Result<StreamsProxy> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let port = listener.local_addr()?.port();
    let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve(client, &upstream, rewrite) {
                    eprintln!("streams proxy: {e}");
                }
            });
        }
    });
    Ok(StreamsProxy { endpoint: format!("http://127.0.0.1:{port}") })
}

/// One request: its head (lines without their CRLF) and body; `None` at the end of the stream.
fn request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<(Vec<String>, Vec<u8>)>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

fn header<'h>(head: &'h [String], name: &str) -> Option<&'h str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Serves one client connection (kept alive) until it closes.
fn serve(client: TcpStream, upstream: &str, rewrite: Rewrite) -> std::io::Result<()> {
    let mut writer = client.try_clone()?;
    let mut reader = BufReader::new(client);
    while let Some((head, body)) = request(&mut reader)? {
        let mut out = TcpStream::connect(upstream)?;
        out.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut forwarded = String::new();
        for line in &head {
            let name = line.split_once(':').map(|(k, _)| k.trim().to_ascii_lowercase());
            if !matches!(name.as_deref(), Some("connection")) {
                forwarded.push_str(line);
                forwarded.push_str("\r\n");
            }
        }
        forwarded.push_str("Connection: close\r\n\r\n");
        out.write_all(forwarded.as_bytes())?;
        out.write_all(&body)?;
        let mut response = Vec::new();
        out.read_to_end(&mut response)?;
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
        let status = String::from_utf8_lossy(&response[..split]).lines().next().unwrap_or("HTTP/1.1 502").to_owned();
        let mut payload = response.get(split + 4..).unwrap_or_default().to_vec();
        let operation = header(&head, "x-amz-target").and_then(|t| t.rsplit_once('.')).map_or("", |(_, op)| op);
        if status.contains(" 200") {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&payload) {
                if operation == "GetRecords" {
                    for r in v["Records"].as_array_mut().into_iter().flatten() {
                        for image in ["Keys", "NewImage", "OldImage"] {
                            if let Some(i) = r["dynamodb"].get_mut(image) {
                                repair_empty_maps(i);
                            }
                        }
                    }
                }
                rewrite(operation, &mut v);
                payload = v.to_string().into_bytes();
            }
        }
        write!(
            writer,
            "{status}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        )?;
        writer.write_all(&payload)?;
    }
    Ok(())
}

/// The attribute [`future_type`] sends as a type the SDK does not know.
pub const FUTURE_ATTRIBUTE: &str = "futureAttribute";

/// What DynamoDB would send in `item` if it added a type of attribute value: its attribute
/// [`FUTURE_ATTRIBUTE`] as `{"FUTURE": …}`, which the SDK reads as its `Unknown`. DynamoDB
/// Local sends only today's types, and the SDK's `Unknown` cannot be built, only parsed.
pub fn future_type(item: &mut Value) {
    if let Some(v) = item.get_mut(FUTURE_ATTRIBUTE) {
        *v = serde_json::json!({"FUTURE": v["S"].clone()});
    }
}
