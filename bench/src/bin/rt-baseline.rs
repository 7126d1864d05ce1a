//! The cold-start baseline: the least a custom runtime can do. It polls the Runtime API with a
//! plain blocking socket and answers `{}` to every invocation, with no async runtime, logging,
//! configuration or AWS SDK. Its exec-to-first-poll time is this machine's floor (process
//! creation, dynamic loading, one loopback connection); a function's cold start is reported as
//! a multiple of it, measured in the same run.

#[path = "../http.rs"]
#[allow(dead_code)]
mod http;

use std::io::BufReader;
use std::net::TcpStream;

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_else(|_| "127.0.0.1:9001".into());
    let stream = TcpStream::connect(&api).unwrap_or_else(|e| panic!("connect {api}: {e}"));
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap_or_else(|e| panic!("{e}")));
    let mut writer = stream;
    let host = vec![("host".to_owned(), api.clone())];
    loop {
        if http::write_message(&mut writer, "GET /2018-06-01/runtime/invocation/next HTTP/1.1", &host, b"").is_err() {
            return;
        }
        let Ok(Some(next)) = http::read_message(&mut reader, true) else { return };
        let id = next.header("lambda-runtime-aws-request-id").unwrap_or("").to_owned();
        let start = format!("POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1");
        if http::write_message(&mut writer, &start, &host, b"{}").is_err() {
            return;
        }
        if !matches!(http::read_message(&mut reader, true), Ok(Some(_))) {
            return;
        }
    }
}
