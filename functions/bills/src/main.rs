#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_http::Error> {
    billing_http::run_http(|app, req| async move { bills::handle(&app, req).await }).await
}
