use billing_adapters::Settings;
use billing_http::startup::invocation_deadline as deadline;
use marketplace_webhook::{handle_event, Webhook};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_http::startup::init_tracing();
    let w = Arc::new(Webhook {
        app: billing_http::App::from(billing_http::startup::wire().await?),
        spi_key: Settings::aliyun_spi_key()?,
        huawei_key: Settings::huawei_koogallery_key()?,
        registration_url: Settings::registration_url()?,
    });
    lambda_runtime::run(lambda_runtime::service_fn(move |e: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let w = w.clone();
        async move { handle_event(&w, e.payload, Some(deadline(e.context.deadline))).await }
    }))
    .await
}
