//! AWS Marketplace calls counted and timed as the other marketplaces' are (`MarketplaceCalls`,
//! `MarketplaceCallErrors`, `MarketplaceCallLatency`): an interceptor on the Metering client
//! sees every operation once, retries included in its time.

use aws_sdk_marketplacemetering::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_marketplacemetering::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::time::Instant;

#[derive(Debug)]
pub struct AwsMarketplaceCalls;

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsMarketplaceCalls {
    fn name(&self) -> &'static str {
        "AwsMarketplaceCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = match cfg.load::<Metadata>().map(|m| m.name()) {
            Some("BatchMeterUsage") => "BatchMeterUsage",
            Some("ResolveCustomer") => "ResolveCustomer",
            _ => "Other",
        };
        let took = cfg.load::<Started>().map(|s| s.0.elapsed()).unwrap_or_default();
        let answered = matches!(context.output_or_error(), Some(Ok(_)));
        billing_domain::telemetry::marketplace_call("aws", operation, took, answered);
        Ok(())
    }
}
