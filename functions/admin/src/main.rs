#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_http::Error> {
    billing_wiring::run_http(admin::NEEDS, |app, req| async move { admin::handle(&app, req).await }).await
}
