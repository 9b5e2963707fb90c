//! The one real adapter per domain port: DynamoDB (all stores), SES (mailer), AWS
//! Marketplace Metering (customer resolver, usage), Alibaba Cloud Marketplace and KooGallery
//! (usage push), Secrets Manager (secrets read at run time).
//! The only crate that imports the AWS SDK or speaks to a marketplace.

pub mod aliyun;
pub mod config;
pub mod dynamo;
pub mod https;
pub mod koogallery;
pub mod metering;
pub mod secrets;
pub mod ses;
pub mod telemetry;

pub use dynamo::DynamoStore;
