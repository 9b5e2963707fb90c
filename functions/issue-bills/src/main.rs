#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_wiring::run_scheduled("issue-bills", issue_bills::NEEDS, |w, deadline, _slot| async move {
        issue_bills::run(&w.deps, Some(deadline)).await
    })
    .await
}
