use billing_wiring::{Needs, SettingsError};
use marketplace_webhook::{handle_event, Webhook};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    let wired = billing_wiring::start(Needs::WEBHOOK).await?;
    let timeout = wired.settings.function_timeout;
    let calls = wired.settings.marketplace_calls.clone().ok_or(SettingsError::Missing("ALIYUN_SPI_KEY"))?;
    let w = Arc::new(Webhook {
        app: billing_http::App::from(wired),
        spi_key: calls.aliyun_spi_key,
        huawei_key: calls.huawei_koogallery_key,
        registration_url: calls.registration_url,
    });
    billing_wiring::run_events(move |e| {
        let w = w.clone();
        let deadline = billing_wiring::deadline::invocation_deadline(e.context.deadline, timeout);
        async move { handle_event(&w, e.payload, Some(deadline)).await }
    })
    .await
}
