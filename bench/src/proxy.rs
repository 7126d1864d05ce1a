//! A counting proxy in front of DynamoDB Local: the functions under test talk to it through
//! `AWS_ENDPOINT_URL_DYNAMODB`, and it counts every request by operation (`X-Amz-Target`) and
//! sums the `ConsumedCapacity` of every answer. This measures the cost independently of what the
//! functions log about themselves.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::http;

/// Requests and capacity per DynamoDB operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpCount {
    pub requests: u64,
    pub capacity_units: f64,
    /// Answers with a status other than 200 (conditional-check cancellations included).
    pub failed: u64,
}

pub type Counts = BTreeMap<String, OpCount>;

pub struct CountingProxy {
    addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
}

impl CountingProxy {
    /// Listens on `127.0.0.1`, forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> std::io::Result<Self> {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::new()));
        let c = Arc::clone(&counts);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (c, upstream) = (Arc::clone(&c), upstream.clone());
                std::thread::spawn(move || {
                    let _ = relay(client, &upstream, &c);
                });
            }
        });
        Ok(Self { addr, counts })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts so far, and resets them.
    pub fn take(&self) -> Counts {
        self.counts.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default()
    }
}

fn relay(client: TcpStream, upstream: &str, counts: &Mutex<Counts>) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let server = TcpStream::connect(upstream)?;
    server.set_nodelay(true)?;
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let mut from_server = BufReader::new(server.try_clone()?);
    let mut to_server = server;
    while let Some(req) = http::read_message(&mut from_client, false)? {
        let op = req.header("x-amz-target").and_then(|t| t.rsplit('.').next()).unwrap_or("other").to_owned();
        http::write_message(&mut to_server, &req.start, &req.headers, &req.body)?;
        let Some(res) = http::read_message(&mut from_server, true)? else { break };
        http::write_message(&mut to_client, &res.start, &res.headers, &res.body)?;
        let units = consumed(&res.body);
        if let Ok(mut c) = counts.lock() {
            let e = c.entry(op).or_default();
            e.requests += 1;
            e.capacity_units += units;
            e.failed += u64::from(res.status() != 200);
        }
    }
    Ok(())
}

/// The capacity units an answer reports (`ConsumedCapacity` is an object or a list).
fn consumed(body: &[u8]) -> f64 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return 0.0 };
    let units = |c: &serde_json::Value| c.get("CapacityUnits").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    match v.get("ConsumedCapacity") {
        Some(serde_json::Value::Array(items)) => items.iter().map(units).sum(),
        Some(c) => units(c),
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn consumed_capacity_is_read_from_objects_and_lists() {
        assert_eq!(super::consumed(br#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":2.5}}"#), 2.5);
        assert_eq!(super::consumed(br#"{"ConsumedCapacity":[{"CapacityUnits":12},{"CapacityUnits":1}]}"#), 13.0);
        assert_eq!(super::consumed(b"not json"), 0.0);
    }
}
