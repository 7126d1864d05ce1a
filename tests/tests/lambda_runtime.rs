//! The built `ingest` binary driven through the real Lambda runtime path: `cargo lambda watch`
//! serves the runtime API it polls, `cargo lambda invoke` sends the events.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use integration_tests::{
    cargo_lambda, dynamodb_endpoint, free_port, fresh_store, local_env, repo_root, samples, wait_for_port,
};
use serde_json::Value;

/// `cargo lambda watch --only-lambda-apis` serving the Lambda runtime and invoke APIs, with the
/// built function binary polling it as it would in Lambda. (Letting watch start the function
/// itself is avoided: its process supervisor's stop signals have been seen to escape its own
/// process group on this machine.) Both processes are stopped on drop, by PID.
struct Watch {
    watch: Child,
    function: Child,
    port: u16,
}

impl Watch {
    fn start(function: &str, table: &str) -> Self {
        let port = free_port();
        let watch = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start cargo lambda watch: {e}; {}", integration_tests::INSTALL_HINT));
        assert!(wait_for_port(port, Duration::from_secs(120)), "cargo lambda watch did not listen on {port}");
        let function = Command::new(integration_tests::function_binary(function))
            .envs(local_env(dynamodb_endpoint()))
            .envs(integration_tests::runtime_env(function, port))
            .env("TABLE_NAME", table)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {function}: {e}"));
        Self { watch, function, port }
    }

    fn invoke(&self, payload: &Value) -> Result<Value, String> {
        let file = std::env::temp_dir().join(format!("invoke-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, payload.to_string()).map_err(|e| e.to_string())?;
        let out = Command::new(cargo_lambda())
            .args([
                "lambda",
                "invoke",
                "ingest",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
            ])
            .args(["--retry-attempts", "120", "--data-file"])
            .arg(&file)
            .current_dir(repo_root())
            .output()
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&file);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.success() {
            serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))
        } else {
            Err(format!("{stdout}{stderr}"))
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.watch] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ingest_binary_stores_samples_and_rejects_bad_events_through_cargo_lambda() {
    let store = fresh_store().await;
    let watch = Watch::start("ingest", store.table());
    let mut results = Vec::new();
    for (name, event) in samples("ingest-") {
        let r = watch.invoke(&event).unwrap_or_else(|e| panic!("{name}: {e}"));
        results.push(r["result"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        results,
        ["created", "created", "created", "created", "created", "created", "created", "created", "ignored_success"]
    );

    // Redelivery of the first sample counts once.
    let (_, first) = &samples("ingest-01")[0];
    let again = watch.invoke(first).unwrap();
    assert_eq!(again["result"], "duplicate");
    let group = uuid::Uuid::parse_str(again["groupId"].as_str().unwrap()).unwrap();
    assert_eq!(store.get(&group).await.unwrap().unwrap().num_occurrences, 1);

    // A malformed event is an invocation error naming the field, and the process survives it.
    let mut bad = first.clone();
    bad["detail"]["operation"] = Value::from("image delete");
    let err = watch.invoke(&bad).unwrap_err();
    assert!(err.contains("detail.operation: unknown variant `image delete`"), "{err}");
    assert!(err.contains("EventRejected"), "{err}");
    let (_, timeout) = &samples("ingest-05")[0];
    let mut fresh = timeout.clone();
    fresh["id"] = Value::from("after-the-rejection");
    assert_eq!(watch.invoke(&fresh).unwrap()["result"], "updated");
}
