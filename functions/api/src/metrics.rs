//! What the api function tells CloudWatch about one request: one EMF document (pure; the
//! handler's [`scan_failures_aws::metrics::Sink`] writes it).
//!
//! `Route` is the matched route's `METHOD /path/{id}` (one of [`crate::routes::ROUTES`]) or
//! `unmatched`, and `StatusClass` is `2xx`, `4xx` or `5xx`: closed sets, so no request can
//! create a billed metric of its own. `InternalErrors` is emitted on every request (0 or 1):
//! a 500 answered from a successful invocation never reaches Lambda's `Errors` metric. A 503
//! (the table busy or out of reach, with `Retry-After`) is not one: it is counted in the `5xx`
//! class, and DynamoDB's own metrics say which.

use std::time::Duration;

use scan_failures_aws::dynamo::read::ReadStats;
use scan_failures_aws::metrics::emf::{Document, Metric, Unit};
use scan_failures_aws::metrics::MetricsConfig;
use time::OffsetDateTime;

use crate::routes::Route;

pub static REQUESTS: Metric = Metric {
    name: "Requests",
    unit: Unit::Count,
    dimensions: &[&["Stack"], &["Stack", "Route"], &["Stack", "StatusClass"]],
    help: "requests answered, in all, by route and by status class",
};
pub static LATENCY: Metric = Metric {
    name: "Latency",
    unit: Unit::Milliseconds,
    dimensions: &[&["Stack"], &["Stack", "Route"]],
    help: "time from the request reaching the handler to its answer",
};
pub static ITEMS_READ: Metric = Metric {
    name: "ItemsRead",
    unit: Unit::Count,
    dimensions: &[&["Stack", "Route"]],
    help: "items DynamoDB read for a list, count, summary, trend or delete",
};
pub static READ_CAPACITY_UNITS: Metric = Metric {
    name: "ReadCapacityUnits",
    unit: Unit::None,
    dimensions: &[&["Stack", "Route"]],
    help: "read capacity DynamoDB reported for a list, count, summary, trend or delete",
};
pub static INTERNAL_ERRORS: Metric = Metric {
    name: "InternalErrors",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "requests answered 500 (an internal error quoted by request id)",
};

/// Every metric the api function emits (the template test checks the dashboard against it).
pub static METRICS: &[&Metric] = &[&REQUESTS, &LATENCY, &ITEMS_READ, &READ_CAPACITY_UNITS, &INTERNAL_ERRORS];

/// The `Route` value of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// One answered request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Served<'a> {
    /// Lambda's request id, as the error answers quote it (a searchable member, not a dimension).
    pub request_id: &'a str,
    pub route: Option<&'static Route>,
    pub status: u16,
    pub latency: Duration,
    /// What the request's reads cost, for the routes that query.
    pub read: Option<ReadStats>,
}

impl Served<'_> {
    /// The request's document.
    pub fn document(&self, config: &MetricsConfig, at: OffsetDateTime) -> Document {
        let route = self.route.map_or_else(|| UNMATCHED.to_owned(), |r| format!("{} {}", r.method, r.path));
        let class = match self.status {
            500.. => "5xx",
            400..=499 => "4xx",
            _ => "2xx",
        };
        let doc = Document::new(&config.stack, at)
            .property("requestId", self.request_id)
            .dimension("Route", &route)
            .dimension("StatusClass", class)
            .with(&REQUESTS, 1.0)
            .with(&LATENCY, self.latency.as_secs_f64() * 1000.0)
            .with(&INTERNAL_ERRORS, if self.status == 500 { 1.0 } else { 0.0 });
        match self.read {
            Some(read) => {
                doc.with(&ITEMS_READ, read.items_read as f64).with(&READ_CAPACITY_UNITS, read.read_capacity_units)
            }
            None => doc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;
    use serde_json::json;

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-12-02 10:00 UTC)
    }

    fn config() -> MetricsConfig {
        MetricsConfig { enabled: true, stack: "prod".to_owned(), by_reason: true }
    }

    #[test]
    fn a_count_request_is_one_document_with_its_route_class_latency_and_read_cost() {
        let served = Served {
            request_id: "r-1",
            route: ROUTES.iter().find(|r| r.path == "/v1/count/administration/events"),
            status: 200,
            latency: Duration::from_micros(12_500),
            read: Some(ReadStats { requests: 2, items_read: 120, read_capacity_units: 15.5 }),
        };
        assert_eq!(
            served.document(&config(), at()).to_json(),
            json!({
                "_aws": {"Timestamp": 1_796_205_600_000_i64, "CloudWatchMetrics": [
                    {"Namespace": "ScanFailures", "Dimensions": [["Stack"], ["Stack", "Route"], ["Stack", "StatusClass"]],
                     "Metrics": [{"Name": "Requests", "Unit": "Count"}]},
                    {"Namespace": "ScanFailures", "Dimensions": [["Stack"], ["Stack", "Route"]],
                     "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]},
                    {"Namespace": "ScanFailures", "Dimensions": [["Stack"]],
                     "Metrics": [{"Name": "InternalErrors", "Unit": "Count"}]},
                    {"Namespace": "ScanFailures", "Dimensions": [["Stack", "Route"]],
                     "Metrics": [{"Name": "ItemsRead", "Unit": "Count"}, {"Name": "ReadCapacityUnits", "Unit": "None"}]}
                ]},
                "Stack": "prod", "Route": "GET /v1/count/administration/events", "StatusClass": "2xx", "requestId": "r-1",
                "Requests": 1, "Latency": 12.5, "InternalErrors": 0, "ItemsRead": 120, "ReadCapacityUnits": 15.5
            })
        );
    }

    #[test]
    fn an_unmatched_request_and_an_internal_error_keep_to_the_closed_dimension_values() {
        let missed = Served { request_id: "", route: None, status: 404, latency: Duration::ZERO, read: None }
            .document(&config(), at());
        let json = missed.to_json();
        assert_eq!((json["Route"].as_str(), json["StatusClass"].as_str()), (Some("unmatched"), Some("4xx")));
        assert!(json.get("ItemsRead").is_none(), "{json}");
        let failed = Served { request_id: "", route: ROUTES.first(), status: 500, latency: Duration::ZERO, read: None }
            .document(&config(), at());
        let json = failed.to_json();
        assert_eq!((json["StatusClass"].as_str(), json["InternalErrors"].as_u64()), (Some("5xx"), Some(1)));
    }

    #[test]
    fn a_busy_table_is_a_5xx_and_not_an_internal_error() {
        let busy = Served { request_id: "", route: ROUTES.first(), status: 503, latency: Duration::ZERO, read: None }
            .document(&config(), at());
        let json = busy.to_json();
        assert_eq!((json["StatusClass"].as_str(), json["InternalErrors"].as_u64()), (Some("5xx"), Some(0)));
    }
}
