#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_wiring::run_scheduled("sweeper", sweeper::NEEDS, |w, deadline, _slot| async move {
        sweeper::sweep(&w.deps, Some(deadline)).await
    })
    .await
}
