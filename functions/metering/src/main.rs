use std::sync::Arc;

#[tokio::main(flavor = "current_thread")] // one event at a time per execution environment
async fn main() -> Result<(), lambda_runtime::Error> {
    billing_http::startup::init_tracing();
    let wired = Arc::new(billing_http::startup::wire().await?);
    lambda_runtime::run(lambda_runtime::service_fn(move |e: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let wired = wired.clone();
        async move {
            let deadline = billing_http::startup::invocation_deadline(e.context.deadline);
            let figures = metering::run(&wired.deps, Some(deadline)).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(figures)?)
        }
    }))
    .await
}
