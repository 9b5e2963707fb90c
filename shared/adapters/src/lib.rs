//! The one real adapter per domain port: DynamoDB (all stores), SES (mailer),
//! Marketplace Metering (customer resolver). The only crate that imports the AWS SDK.

pub mod config;
pub mod dynamo;
pub mod metering;
pub mod ses;

pub use config::Settings;
pub use dynamo::DynamoStore;
