#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_http::Error> {
    billing_wiring::run_http(login::NEEDS, |app, req| async move { login::handle(&app, req).await }).await
}
