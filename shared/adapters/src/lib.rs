//! The edge: the one real adapter per domain port (DynamoDB for every store, SES for mail,
//! Secrets Manager for the secrets read at run time) and one module per marketplace holding its
//! whole wire protocol, inbound and outbound (`aws`, `aliyun`, `koogallery`: signatures, field
//! names, answer codes). The only crate that imports
//! the AWS SDK or speaks to a marketplace; the domain sees typed events and outcomes.

pub mod aliyun;
pub mod aws;
pub mod config;
pub mod dynamo;
pub mod https;
pub mod koogallery;
pub mod secrets;
pub mod ses;
pub mod split;
pub mod telemetry;

pub use dynamo::DynamoStore;
