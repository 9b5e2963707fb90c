#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_wiring::run_scheduled("metering", metering::NEEDS, |w, deadline| async move {
        metering::run(&w.deps, Some(deadline)).await
    })
    .await
}
