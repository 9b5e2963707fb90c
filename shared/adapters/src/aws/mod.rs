//! AWS Marketplace, as its pages publish it: the Metering Service (`ResolveCustomer`,
//! `BatchMeterUsage`) and the subscription messages (SNS notifications, EventBridge agreement
//! and licence events) read into the domain's typed events. docs/marketplaces/aws.md lists each
//! rule with its page.

pub mod events;
pub mod metering;
