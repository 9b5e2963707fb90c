use billing_wiring::Needs;

#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_wiring::run_scheduled("metering", Needs::METERING, |w, deadline| async move {
        metering::run(&w.deps, Some(deadline)).await
    })
    .await
}
