//! The hello-world Lambda the benchmark compares cold starts against: `lambda_runtime`
//! and nothing else.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(|e: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
        Ok::<_, lambda_runtime::Error>(e.payload)
    }))
    .await
}
