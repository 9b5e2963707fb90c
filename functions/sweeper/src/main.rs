#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_http::run_scheduled("sweeper", |w, deadline| async move { sweeper::sweep(&w.deps, Some(deadline)).await })
        .await
}
