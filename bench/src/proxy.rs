//! A counting proxy in front of DynamoDB Local: the functions under test talk to it through
//! `AWS_ENDPOINT_URL_DYNAMODB`, and it counts every request by operation (`X-Amz-Target`) and
//! sums the `ConsumedCapacity` of every answer. This measures the cost independently of what the
//! functions log about themselves.
//!
//! DynamoDB Local under-reports `TransactWriteItems`: it sums the *distinct* per-item costs of a
//! transaction, so N markers of the same size count as one (measured: 1 small put 2.0 WCU, 2 or
//! 20 small puts also 2.0; a 1.5 KB put plus a small one 6.0, correct). The proxy adds back the
//! cost of the duplicate `Put`s it sees in the request (2 WCU per started KiB each, the
//! transactional price); the `Update`'s cost is what remains of the reported total.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::http;

/// Requests and capacity per DynamoDB operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpCount {
    pub requests: u64,
    /// As DynamoDB Local reports it.
    pub capacity_units: f64,
    /// Corrected for DynamoDB Local's transaction accounting (see the module doc).
    pub corrected_capacity_units: f64,
    /// Answers with a status other than 200 (conditional-check cancellations included).
    pub failed: u64,
}

pub type Counts = BTreeMap<String, OpCount>;

/// What the successful `TransactWriteItems` requests wrote, for pricing their updates by the
/// size of the items they updated, which only the table knows (see the module doc).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transacted {
    pub transactions: u64,
    /// The `Put`s, at the transactional price of their size (2 WCU per started KiB each).
    pub put_units: f64,
    pub puts: u64,
    /// Item key (`pk`) → how many transactions updated it.
    pub updates: BTreeMap<String, u64>,
}

pub struct CountingProxy {
    addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    transacted: Arc<Mutex<Transacted>>,
}

impl CountingProxy {
    /// Listens on `127.0.0.1`, forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> std::io::Result<Self> {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::new()));
        let transacted = Arc::new(Mutex::new(Transacted::default()));
        let (c, t) = (Arc::clone(&counts), Arc::clone(&transacted));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (c, t, upstream) = (Arc::clone(&c), Arc::clone(&t), upstream.clone());
                std::thread::spawn(move || {
                    let _ = relay(client, &upstream, &c, &t);
                });
            }
        });
        Ok(Self { addr, counts, transacted })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts so far, and resets them.
    pub fn take(&self) -> Counts {
        self.counts.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default()
    }

    /// What the transactions so far wrote, and resets it.
    pub fn take_transacted(&self) -> Transacted {
        self.transacted.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default()
    }
}

fn relay(
    client: TcpStream,
    upstream: &str,
    counts: &Mutex<Counts>,
    transacted: &Mutex<Transacted>,
) -> std::io::Result<()> {
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
        // Counted before the answer is passed on: a caller that takes the counts as soon as its
        // last request is answered (every part does) would miss that request's.
        let units = consumed(&res.body);
        let missing = if op == "TransactWriteItems" && units > 0.0 { duplicate_put_units(&req.body) } else { 0.0 };
        if op == "TransactWriteItems" && res.status() == 200 {
            if let Ok(mut t) = transacted.lock() {
                add_transaction(&mut t, &req.body);
            }
        }
        if let Ok(mut c) = counts.lock() {
            let e = c.entry(op).or_default();
            e.requests += 1;
            e.capacity_units += units;
            e.corrected_capacity_units += units + missing;
            e.failed += u64::from(res.status() != 200);
        }
        http::write_message(&mut to_client, &res.start, &res.headers, &res.body)?;
    }
    Ok(())
}

/// Adds one successful `TransactWriteItems` request's puts and updates to `t`.
fn add_transaction(t: &mut Transacted, request: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(request) else { return };
    t.transactions += 1;
    for item in v.get("TransactItems").and_then(serde_json::Value::as_array).into_iter().flatten() {
        if let Some(put) = item.get("Put").and_then(|p| p.get("Item")).and_then(serde_json::Value::as_object) {
            t.puts += 1;
            t.put_units += put_units(put);
        }
        if let Some(pk) = item.get("Update").and_then(|u| u["Key"]["pk"]["S"].as_str()) {
            *t.updates.entry(pk.to_owned()).or_default() += 1;
        }
    }
}

/// The transactional price of writing `item`: 2 WCU per started KiB.
pub fn put_units(item: &serde_json::Map<String, serde_json::Value>) -> f64 {
    (2 * item_size(item).div_ceil(1024).max(1)) as f64
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

/// An item's size by DynamoDB's rules (attribute names plus values; numbers approximated by their
/// digits), in bytes.
fn item_size(item: &serde_json::Map<String, serde_json::Value>) -> usize {
    fn value(v: &serde_json::Value) -> usize {
        let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return 1 };
        match (kind.as_str(), inner) {
            ("S" | "B", serde_json::Value::String(s)) => s.len(),
            ("N", serde_json::Value::String(s)) => s.len().div_ceil(2) + 1,
            ("M", serde_json::Value::Object(m)) => 3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>(),
            ("L", serde_json::Value::Array(l)) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            ("SS" | "NS" | "BS", serde_json::Value::Array(l)) => l.iter().map(|v| v.as_str().map_or(1, str::len)).sum(),
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// The transactional cost of the `Put`s of a `TransactWriteItems` request that DynamoDB Local
/// leaves out: all of them, minus one per distinct cost.
fn duplicate_put_units(request: &[u8]) -> f64 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(request) else { return 0.0 };
    let costs: Vec<u64> = v
        .get("TransactItems")
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("Put")?.get("Item")?.as_object())
                .map(|item| put_units(item) as u64)
                .collect()
        })
        .unwrap_or_default();
    let distinct: std::collections::BTreeSet<u64> = costs.iter().copied().collect();
    (costs.iter().sum::<u64>() - distinct.iter().sum::<u64>()) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn duplicate_puts_of_a_transaction_are_added_back() {
        let put = |id: &str| {
            format!(
                r#"{{"Put":{{"TableName":"t","Item":{{"pk":{{"S":"e#{id}"}},"expiresAt":{{"N":"1795600000"}}}}}}}}"#
            )
        };
        let update = r#"{"Update":{"TableName":"t","Key":{"pk":{"S":"g#1"}}}}"#;
        let body = |puts: usize| {
            let items: Vec<String> = (0..puts).map(|i| put(&i.to_string())).chain([update.to_owned()]).collect();
            format!(r#"{{"TransactItems":[{}]}}"#, items.join(","))
        };
        assert_eq!(super::duplicate_put_units(body(1).as_bytes()), 0.0);
        assert_eq!(super::duplicate_put_units(body(20).as_bytes()), 38.0);
        let big = format!(
            r#"{{"TransactItems":[{},{{"Put":{{"TableName":"t","Item":{{"pk":{{"S":"{}"}}}}}}}}]}}"#,
            put("a"),
            "x".repeat(1500)
        );
        assert_eq!(super::duplicate_put_units(big.as_bytes()), 0.0);
        let mut t = super::Transacted::default();
        super::add_transaction(&mut t, body(3).as_bytes());
        super::add_transaction(&mut t, big.as_bytes());
        assert_eq!((t.transactions, t.puts, t.put_units), (2, 5, 12.0));
        assert_eq!(t.updates, std::collections::BTreeMap::from([("g#1".to_owned(), 1)]));
    }

    #[test]
    fn consumed_capacity_is_read_from_objects_and_lists() {
        assert_eq!(super::consumed(br#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":2.5}}"#), 2.5);
        assert_eq!(super::consumed(br#"{"ConsumedCapacity":[{"CapacityUnits":12},{"CapacityUnits":1}]}"#), 13.0);
        assert_eq!(super::consumed(b"not json"), 0.0);
    }
}
