use billing_wiring::SettingsError;
use marketplace_webhook::{handle_event, Webhook};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut wired = billing_wiring::start(marketplace_webhook::NEEDS).await?;
    let timeout = wired.settings.function_timeout;
    // NEEDS asks for both: start() refused to start without them, naming the variable.
    let keys = wired.marketplace_keys.take().ok_or(SettingsError::Missing("ALIYUN_SPI_KEY_SECRET"))?;
    let registration_url = wired.settings.registration_url.clone().ok_or(SettingsError::Missing("REGISTRATION_URL"))?;
    let w = Arc::new(Webhook {
        app: billing_http::App::from(wired),
        spi_key: keys.aliyun_spi_key,
        huawei_key: keys.huawei_koogallery_key,
        registration_url,
    });
    billing_wiring::run_events(move |e| {
        let w = w.clone();
        let deadline = billing_wiring::deadline::invocation_deadline(e.context.deadline, timeout);
        async move { handle_event(&w, e.payload, Some(deadline)).await }
    })
    .await
}
