//! One failed scan as an "Image Scan Failed" event (contract v1), checked by the same parser the
//! ingest function runs before it leaves the machine: what the bus accepts is stored.

use scan_failures_domain::classify::{self, Reason};
use scan_failures_domain::event::{self, bounds, EventError, Operation, Origin};
use scan_failures_domain::redact;
use scan_failures_domain::time_fmt;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::stderr;

/// The most bytes of a published message's JSON string: EventBridge takes an entry of 256 KiB
/// at most, and a message of control characters (a scanner's colours are stripped, not every
/// one) escapes to six bytes each; the detail's other fields are bounded well within the rest.
pub const MAX_MESSAGE_JSON: usize = 192 * 1024;

/// One failed scan of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub operation: Operation,
    pub origin: Origin,
    pub image: String,
    /// `namespace/name` of the deployment that runs the image.
    pub deployment: Option<(String, String)>,
    pub cluster: Option<String>,
    /// The scanner's words; published within what the ingest function accepts, which
    /// classifies and groups them whole and stores 4 KiB of them.
    pub message: String,
    /// A reason code the sender already knows (`report --code`).
    pub code: Option<String>,
    pub initiator: Option<String>,
    pub user_agent: String,
    pub occurred_at: OffsetDateTime,
    /// This failed scan's own id (`detail.occurrenceId`): the same for every send of it, so a
    /// request the SDK sends again after losing its answer counts once.
    pub occurrence_id: String,
}

impl Report {
    /// The event's `detail`.
    pub fn detail(&self) -> Value {
        let mut detail = Map::new();
        detail.insert("operation".into(), json!(self.operation.as_str()));
        detail.insert("origin".into(), json!(self.origin.as_str()));
        detail.insert("image".into(), json!({ "name": self.image }));
        if let Some((namespace, name)) = &self.deployment {
            detail.insert("deployment".into(), json!({ "namespace": namespace, "name": name }));
        }
        // The free-text fields cut to the ingest function's bounds here (it cuts them too): a
        // `--cluster` or a CI variable of any length would take an entry past EventBridge's.
        let bounded = |text: &str, max| event::truncate(text.trim().to_owned(), max);
        if let Some(cluster) = &self.cluster {
            detail.insert("cluster".into(), json!(bounded(cluster, bounds::CLUSTER)));
        }
        let mut error = Map::new();
        error.insert("message".into(), json!(self.published_message()));
        if let Some(code) = &self.code {
            error.insert("code".into(), json!(code));
        }
        detail.insert("error".into(), Value::Object(error));
        let mut initiator = Map::new();
        if let Some(id) = &self.initiator {
            initiator.insert("id".into(), json!(bounded(id, bounds::INITIATOR_ID)));
        }
        initiator.insert("userAgent".into(), json!(bounded(&self.user_agent, bounds::USER_AGENT)));
        detail.insert("initiator".into(), Value::Object(initiator));
        detail.insert("occurredAt".into(), json!(time_fmt::format(self.occurred_at)));
        detail.insert("occurrenceId".into(), json!(self.occurrence_id));
        Value::Object(detail)
    }

    /// The message as it leaves the machine: its secrets redacted (it is stored, shown to every
    /// viewer and copied into dead-letter queues), within what the ingest function accepts
    /// ([`bounds::MESSAGE_ACCEPTED`]), which classifies and groups it whole (cut to the 4 KiB
    /// it stores, a phrase past them did not decide the reason, and two long messages cut at
    /// different places were two groups): cut at its end, or, for a message marked to be kept
    /// by its end ([`stderr::last_lines`]; a redaction can make it longer), at its start,
    /// which the ingest function keeps the end of too. Its JSON is within
    /// [`MAX_MESSAGE_JSON`] as well.
    fn published_message(&self) -> String {
        // Trimmed first, as the ingest function reads it (its marker then at the start).
        let redacted = redact::secrets(self.message.trim()).into_owned();
        let end_kept = redacted.starts_with(stderr::CUT_START);
        let mut max = bounds::MESSAGE_ACCEPTED;
        loop {
            let cut =
                if end_kept { event::keep_end(redacted.clone(), max) } else { event::truncate(redacted.clone(), max) };
            let json = serde_json::to_string(&cut).map_or(usize::MAX, |j| j.len());
            // Cut in proportion (a byte is one to six of JSON), at least one byte a step.
            if json <= MAX_MESSAGE_JSON || max == 0 {
                return cut;
            }
            max = (max.saturating_mul(MAX_MESSAGE_JSON) / json).min(max - 1);
        }
    }

    /// The reason the product will give this failure, as the ingest function classifies it.
    pub fn reason(&self) -> Reason {
        classify::classify(self.code.as_deref(), &self.published_message())
    }

    /// Whether the ingest function would store this event from `source`: the contract's own
    /// parser run on it in an envelope as EventBridge would deliver it.
    pub fn check(&self, source: &str) -> Result<(), EventError> {
        let envelope = json!({
            "version": "0",
            "id": "00000000-0000-4000-8000-000000000000",
            "detail-type": event::DETAIL_TYPE,
            "source": source,
            "account": "000000000000",
            "time": time_fmt::format(self.occurred_at),
            "region": "us-east-1",
            "resources": [],
            "detail": self.detail(),
        });
        event::parse(envelope).map(|_| ())
    }
}

/// `reports` split, in their order, into those the ingest function would store and those it
/// would refuse, each with why: one image a deployment's YAML names wrongly must not keep the
/// others from being reported. A name refused only for the capitals in its repository path
/// (`Quay.io/Acme/Web:1.4`, which the scanner refused for them: `INVALID_IMAGE_NAME`) is
/// reported under that path in lower case, its tag kept: the failure is stored, and its message
/// keeps the name as given.
pub fn checked(reports: Vec<Report>, source: &str) -> (Vec<Report>, Vec<(Report, EventError)>) {
    let (mut valid, mut refused) = (Vec::new(), Vec::new());
    for report in reports {
        match report.check(source) {
            Ok(()) => valid.push(report),
            Err(e) => match lowercased_path(&report.image)
                .map(|image| Report { image, ..report.clone() })
                .filter(|lowered| lowered.check(source).is_ok())
            {
                Some(lowered) => valid.push(lowered),
                None => refused.push((report, e)),
            },
        }
    }
    (valid, refused)
}

/// `name` with its registry and repository path in lower case, its tag and digest as given;
/// `None` when that changes nothing.
fn lowercased_path(name: &str) -> Option<String> {
    let (named, digest) = name.split_once('@').map_or((name, None), |(n, d)| (n, Some(d)));
    let tag_at = named.rfind(':').filter(|&i| !named[i..].contains('/'));
    let (path, tag) = tag_at.map_or((named, ""), |i| named.split_at(i));
    let lowered = format!("{}{tag}{}", path.to_ascii_lowercase(), digest.map(|d| format!("@{d}")).unwrap_or_default());
    (lowered != name).then_some(lowered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn report() -> Report {
        Report {
            operation: Operation::ImageScan,
            origin: Origin::Roxctl,
            image: "quay.io/acme/web:1.4".into(),
            deployment: None,
            cluster: Some("prod-eu-1".into()),
            message: "failed to get the manifest digest: http: non-successful response (status=401 body=\"\")".into(),
            code: None,
            initiator: Some("https://github.com/acme/shop/actions/runs/1".into()),
            user_agent: "scanfail/0.1.0 roxctl".into(),
            occurred_at: datetime!(2026-12-02 10:00:00 UTC),
            occurrence_id: "5f0b8f3c-2a47-4d0e-9c61-0c9b1e7a4d21".into(),
        }
    }

    /// roxctl refuses `Quay.io/Acme/Web:V1.4` (INVALID_IMAGE_NAME); the ingest parser refuses
    /// its capitals too, so the failure was never reported. It is now, under the lower-case path.
    #[test]
    fn a_name_refused_for_capitals_in_its_path_is_reported_in_lower_case_with_its_tag_kept() {
        let message = "rpc error: code = InvalidArgument desc = invalid image name \"Quay.io/Acme/Web:V1.4\"";
        let given = Report { image: "Quay.io/Acme/Web:V1.4".into(), message: message.into(), ..report() };
        let (valid, refused) = checked(vec![given], "scanfail");
        assert_eq!(refused.len(), 0);
        assert_eq!(valid[0].image, "quay.io/acme/web:V1.4");
        assert_eq!(valid[0].message, message);
        assert_eq!(valid[0].reason(), Reason::InvalidImageName);
        assert_eq!(lowercased_path("Host:5000/A/B@sha256:AB"), Some("host:5000/a/b@sha256:AB".into()));
        assert_eq!(lowercased_path("quay.io/acme/web:V1"), None);
        let (valid, refused) = checked(vec![Report { image: "${IMAGE}".into(), ..report() }], "scanfail");
        assert_eq!((valid.len(), refused.len()), (0, 1));
    }

    /// The scanner's output leaves the machine without the secrets it carried (they reached the
    /// bus, its archive and the dead-letter queues as printed).
    #[test]
    fn a_secret_in_the_scanners_output_never_leaves_the_machine() {
        let given =
            Report { message: "pull failed: https://ci:hunter2@registry.example.com/v2/: 401".into(), ..report() };
        assert_eq!(
            given.detail()["error"]["message"],
            json!("pull failed: https://ci:***@registry.example.com/v2/: 401")
        );
    }

    #[test]
    fn the_detail_is_the_contract_v1_shape() {
        assert_eq!(
            report().detail(),
            json!({
                "operation": "image scan",
                "origin": "roxctl",
                "image": {"name": "quay.io/acme/web:1.4"},
                "cluster": "prod-eu-1",
                "error": {"message": "failed to get the manifest digest: http: non-successful response (status=401 body=\"\")"},
                "initiator": {"id": "https://github.com/acme/shop/actions/runs/1", "userAgent": "scanfail/0.1.0 roxctl"},
                "occurredAt": "2026-12-02T10:00:00.000Z",
                "occurrenceId": "5f0b8f3c-2a47-4d0e-9c61-0c9b1e7a4d21",
            })
        );
        assert_eq!(report().check("scanfail").map_err(|e| e.to_string()), Ok(()));
        assert_eq!(report().reason(), Reason::RegistryUnauthorized);
    }

    #[test]
    fn a_deployment_and_a_code_are_carried() {
        let r = Report {
            operation: Operation::DeploymentCheck,
            deployment: Some(("shop".into(), "web".into())),
            code: Some("TIMEOUT".into()),
            ..report()
        };
        let detail = r.detail();
        assert_eq!(detail["deployment"], json!({"namespace": "shop", "name": "web"}));
        assert_eq!(detail["error"]["code"], json!("TIMEOUT"));
        assert_eq!(r.reason(), Reason::Timeout);
        assert_eq!(r.check("scanfail").map_err(|e| e.to_string()), Ok(()));
    }

    fn published(r: &Report) -> String {
        r.detail()["error"]["message"].as_str().unwrap_or_default().to_owned()
    }

    /// The ingest function classifies and groups a message whole and stores 4 KiB of it: cut
    /// to those 4 KiB here, a phrase past them did not decide its reason.
    #[test]
    fn a_long_message_is_sent_whole_up_to_what_the_ingest_function_accepts() {
        let long = format!("{} (status=401 body=\"\")", "dial tcp 10.0.0.1:443: i/o timeout; ".repeat(200));
        let r = Report { message: long.clone(), ..report() };
        assert_eq!(published(&r), long);
        assert_eq!(r.reason(), Reason::RegistryUnauthorized, "a status past the first 4 KiB");
        let past = Report { message: "x".repeat(70_000), ..report() };
        let message = published(&past);
        assert_eq!(message.len(), bounds::MESSAGE_ACCEPTED);
        assert!(message.ends_with(event::TRUNCATION_MARKER));
        assert_eq!(past.check("scanfail").map_err(|e| e.to_string()), Ok(()));
        // A message whose JSON escapes every byte (6 each) is cut to fit EventBridge's entry.
        let escaped = Report { message: "\u{1}".repeat(60_000), ..report() };
        let message = published(&escaped);
        let json = serde_json::to_string(&message).unwrap().len();
        assert!(json <= MAX_MESSAGE_JSON && json > MAX_MESSAGE_JSON - 16, "{json}");
        assert!(message.ends_with(event::TRUNCATION_MARKER));
        assert_eq!(escaped.check("scanfail").map_err(|e| e.to_string()), Ok(()));
        // The other free-text fields at any length are cut to the ingest function's bounds.
        let wide = Report {
            cluster: Some("\u{1}".repeat(60_000)),
            initiator: Some("i".repeat(60_000)),
            user_agent: "u".repeat(60_000),
            ..escaped
        };
        let detail = wide.detail();
        let len = |v: &Value| v.as_str().map_or(0, str::len);
        assert_eq!(
            (len(&detail["cluster"]), len(&detail["initiator"]["id"]), len(&detail["initiator"]["userAgent"])),
            (bounds::CLUSTER, bounds::INITIATOR_ID, bounds::USER_AGENT)
        );
        assert!(detail.to_string().len() <= MAX_MESSAGE_JSON + 32 * 1024, "{}", detail.to_string().len());
    }

    /// A message cut at its start to keep its final error (another scanner's last lines) that
    /// its redaction makes longer (`-p x` becomes `-p ***`) is cut at its start again: cut at
    /// its end, it lost the error it ends on.
    #[test]
    fn a_message_cut_at_its_start_keeps_its_end_through_redaction() {
        let tail = "FATAL: unauthorized: authentication required";
        let text = format!("{}\n{tail}", "-p x ".repeat(14_000));
        let message = stderr::last_lines(&text);
        assert!(message.len() <= bounds::MESSAGE_ACCEPTED && message.starts_with(stderr::CUT_START));
        let published = published(&Report { message, ..report() });
        assert!(published.len() <= bounds::MESSAGE_ACCEPTED, "{}", published.len());
        assert!(
            published.starts_with(stderr::CUT_START) && published.ends_with(tail),
            "{}",
            &published[published.len() - 60..]
        );
        assert_eq!(published.matches(stderr::CUT_START).count(), 1);
        assert!(!published.contains("-p x"), "redacted");
    }

    /// Last lines over the stored message whose cut falls between a URL's `https://` and the
    /// password after it: the password is redacted before the cut, which would otherwise have
    /// left `ci:hunter2@…` without the `://` the redaction knows it by.
    #[test]
    fn a_cut_between_a_secrets_lead_in_and_the_secret_leaves_it_redacted() {
        let end = "\nFATAL: unauthorized";
        let filler =
            bounds::MESSAGE_ACCEPTED - stderr::CUT_START.len() - "ci:hunter2@registry.example.com/v2/: 401 ".len();
        let after = format!("ci:hunter2@registry.example.com/v2/: 401 {}{end}", "y".repeat(filler - end.len()));
        assert_eq!(
            after.len(),
            bounds::MESSAGE_ACCEPTED - stderr::CUT_START.len(),
            "the cut falls just after https://"
        );
        let message = stderr::last_lines(&format!("{} pull https://{after}", "x".repeat(100)));
        let published = published(&Report { message, ..report() });
        assert!(!published.contains("hunter2"), "{}", &published[..80]);
        // Redacted first, the password is 4 bytes shorter: the cut keeps 4 more bytes before it.
        assert_eq!(&published[..stderr::CUT_START.len() + 19], format!("{}s://ci:***@registry", stderr::CUT_START));
        assert!(published.ends_with("FATAL: unauthorized"));
    }

    #[test]
    fn what_the_ingest_function_would_refuse_is_refused_here_with_the_field() {
        let bad = Report { image: "Not A/Valid Image".into(), ..report() };
        let err = bad.check("scanfail").unwrap_err().to_string();
        assert!(err.contains("detail.image.name"), "{err}");
        let empty = Report { message: "  ".into(), ..report() };
        assert!(empty.check("scanfail").unwrap_err().to_string().contains("detail.error.message"));
        let long_id = Report { occurrence_id: "x".repeat(129), ..report() };
        assert_eq!(
            long_id.check("scanfail").unwrap_err().to_string(),
            "detail.occurrenceId: must be at most 128 bytes, got 129"
        );
    }

    #[test]
    fn reports_the_ingest_function_would_refuse_are_set_apart_and_the_others_kept_in_order() {
        let named = |image: &str| Report { image: image.into(), ..report() };
        let (valid, refused) =
            checked(vec![named("quay.io/acme/a:1"), named("${IMAGE}"), named("quay.io/acme/b:1")], "scanfail");
        let images: Vec<&str> = valid.iter().map(|r| r.image.as_str()).collect();
        assert_eq!(images, ["quay.io/acme/a:1", "quay.io/acme/b:1"]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0.image, "${IMAGE}");
        assert!(
            refused[0].1.to_string().starts_with("detail.image.name: is not a valid image reference"),
            "{}",
            refused[0].1
        );
    }
}
