//! The one real adapter per domain port: DynamoDB (all stores), SES (mailer), AWS
//! Marketplace Metering (customer resolver, usage), Alibaba Cloud Marketplace (usage push).
//! The only crate that imports the AWS SDK or speaks to a marketplace.

pub mod aliyun;
pub mod config;
pub mod dynamo;
pub mod https;
pub mod metering;
pub mod ses;

pub use config::Settings;
pub use dynamo::DynamoStore;

/// The metering port of a platform that does not settle bills yet: nothing can be attributed
/// to it, and were anything, it would stay pending (visible in the reconciliation).
pub struct NotSettling(pub &'static str);

#[async_trait::async_trait]
impl billing_domain::ports::MarketMeter for NotSettling {
    async fn send(
        &self,
        records: &[billing_domain::ports::MeterRecord<'_>],
    ) -> Vec<billing_domain::rules::metering::SendOutcome> {
        let why = format!("{} does not settle bills", self.0);
        records.iter().map(|_| billing_domain::rules::metering::SendOutcome::Retry(why.clone())).collect()
    }
}
