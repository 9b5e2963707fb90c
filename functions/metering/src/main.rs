#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_wiring::run_scheduled("metering", metering::NEEDS, |w, deadline, slot| async move {
        metering::run(&w.deps, slot, Some(deadline)).await
    })
    .await
}
