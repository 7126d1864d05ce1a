//! Local-stack helper for `make local`: `create-table` makes the table from the schema in
//! `shared`, `groups` prints the stored groups (a scan: a development aid, never on a request
//! path). Endpoint and table come from `AWS_ENDPOINT_URL_DYNAMODB` and `TABLE_NAME`.

use std::process::ExitCode;

use scan_failures_aws::dynamo::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (Ok(endpoint), Ok(table)) = (std::env::var("AWS_ENDPOINT_URL_DYNAMODB"), std::env::var("TABLE_NAME")) else {
        eprintln!("localstack: set AWS_ENDPOINT_URL_DYNAMODB and TABLE_NAME");
        return ExitCode::from(2);
    };
    let store = Store::new(integration_tests::dynamodb_client(&endpoint), table);
    match std::env::args().nth(1).as_deref() {
        Some("create-table") => match scan_failures_aws::dynamo::table::create(&store).await {
            Ok(()) => {
                println!("localstack: created table {}", store.table());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("localstack: create table {}: {e}", store.table());
                ExitCode::FAILURE
            }
        },
        Some("groups") => {
            let groups = integration_tests::all_groups(&store).await;
            println!("{:<36}  {:<24}  {:>5}  {:<24}  resource", "group", "reason", "count", "lastOccurredAt");
            for g in groups {
                println!(
                    "{:<36}  {:<24}  {:>5}  {:<24}  {}",
                    g.id, g.reason, g.num_occurrences, g.last_occurred_at, g.resource_name
                );
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: localstack create-table|groups");
            ExitCode::from(2)
        }
    }
}
