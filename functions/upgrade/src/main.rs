#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing_http::run_http(|app, req| async move { upgrade::handle(&app, req).await }).await
}
