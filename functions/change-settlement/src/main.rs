#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing_http::run_http(|app, req| async move { change_settlement::handle(&app, req).await }).await
}
