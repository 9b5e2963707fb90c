//! AWS Marketplace Metering Service: the customer-resolver port on `ResolveCustomer`, and the
//! metering port on `BatchMeterUsage`, as the API reference publishes them
//! (docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_BatchMeterUsage.html):
//!
//! - "BatchMeterUsage can process up to 25 UsageRecords at a time"; "Each BatchMeterUsage request
//!   is for only one product".
//! - A licence's records name the customer by `CustomerAWSAccountId` + `LicenseArn` and go
//!   without the request-level `ProductCode` ("For new integrations using LicenseArn (Concurrent
//!   Agreements), do NOT include ProductCode at the request level"); records of a product
//!   integrated before licences name `CustomerIdentifier` under the `ProductCode`.
//! - `CustomerIdentifier` and `CustomerAWSAccountId` "are mutually exclusive parameters. You must
//!   use one or the other, but not both in the same API request" (the stricter of the page's
//!   versions). The Rust SDK writes `"CustomerIdentifier": ""` for a record that never set it,
//!   so [`OneCustomerIdentity`] takes it off the wire before the request is signed.
//! - `InvalidLicenseException`, `InvalidCustomerIdentifierException` and
//!   `TimestampOutOfBoundsException` refuse the whole call ("if any of the records are outside of
//!   the allowed range, the entire batch is not processed"): the call is split until the
//!   offending record is alone, so only its customer's usage falls back.
//! - `UsageRecordResult.Status`: `Success`, `CustomerNotSubscribed`, `DuplicateRecord` ("A
//!   previously metered UsageRecord had the same customer, dimension, and time, but a different
//!   quantity"); `UnprocessedRecords` "should be retried".

use crate::split::{self, Whole};
use async_trait::async_trait;
use aws_sdk_marketplacemetering::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_marketplacemetering::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_marketplacemetering::operation::batch_meter_usage::BatchMeterUsageError;
use aws_sdk_marketplacemetering::operation::resolve_customer::ResolveCustomerError;
use aws_sdk_marketplacemetering::types::{UsageRecord, UsageRecordResultStatus};
use aws_smithy_types::body::SdkBody;
use billing_domain::billing_items;
use billing_domain::model::AwsCustomer;
use billing_domain::ports::{CustomerResolver, MarketMeter, MeterRecord, ResolveError};
use billing_domain::rules::metering::{batch_limit, FallbackReason, SendOutcome};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The Metering client, with the wire kept to the API reference (see [`OneCustomerIdentity`])
/// and every call counted and timed (`AwsMarketplaceCalls`).
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_marketplacemetering::Client {
    let conf = aws_sdk_marketplacemetering::config::Builder::from(sdk)
        .interceptor(OneCustomerIdentity)
        .interceptor(crate::telemetry::AwsMarketplaceCalls)
        .build();
    aws_sdk_marketplacemetering::Client::from_conf(conf)
}

/// Takes an empty `CustomerIdentifier` off every `BatchMeterUsage` record before the request is
/// signed: a record names its customer one way only.
#[derive(Debug)]
pub struct OneCustomerIdentity;

impl Intercept for OneCustomerIdentity {
    fn name(&self) -> &'static str {
        "OneCustomerIdentity"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let batch = request.headers().get("x-amz-target").is_some_and(|t| t.ends_with(".BatchMeterUsage"));
        let Some(fixed) = request.body().bytes().filter(|_| batch).map(without_empty_identifiers).transpose()? else {
            return Ok(());
        };
        if let Some(body) = fixed {
            let len = body.len();
            *request.body_mut() = SdkBody::from(body);
            request.headers_mut().insert("content-length", len.to_string());
        }
        Ok(())
    }
}

/// The body with every empty `CustomerIdentifier` removed from its `UsageRecords`; `None` when
/// there is none.
pub fn without_empty_identifiers(body: &[u8]) -> Result<Option<Vec<u8>>, serde_json::Error> {
    let mut v: Value = serde_json::from_slice(body)?;
    let mut changed = false;
    for r in v["UsageRecords"].as_array_mut().into_iter().flatten() {
        if let Some(o) = r.as_object_mut() {
            if o.get("CustomerIdentifier").and_then(Value::as_str) == Some("") {
                o.remove("CustomerIdentifier");
                changed = true;
            }
        }
    }
    Ok(changed.then(|| v.to_string().into_bytes()))
}

pub struct MeteringResolver {
    client: aws_sdk_marketplacemetering::Client,
}

impl MeteringResolver {
    pub fn new(client: aws_sdk_marketplacemetering::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl CustomerResolver for MeteringResolver {
    async fn resolve(&self, registration_token: &str) -> Result<AwsCustomer, ResolveError> {
        let out =
            self.client.resolve_customer().registration_token(registration_token).send().await.map_err(|e| match e
                .as_service_error()
            {
                Some(
                    ResolveCustomerError::InvalidTokenException(_) | ResolveCustomerError::ExpiredTokenException(_),
                ) => ResolveError::InvalidToken,
                _ => ResolveError::Unavailable(aws_sdk_marketplacemetering::error::DisplayErrorContext(e).to_string()),
            })?;
        // Everything it returns is kept: new integrations get a licence and no customer
        // identifier; older ones get both ("Existing integrations continue to work unchanged").
        let present = |v: Option<String>| v.filter(|s| !s.is_empty());
        let (customer_identifier, license_arn) = (present(out.customer_identifier), present(out.license_arn));
        match (present(out.customer_aws_account_id), present(out.product_code)) {
            (Some(aws_account_id), Some(product_code)) if customer_identifier.is_some() || license_arn.is_some() => {
                Ok(AwsCustomer { customer_identifier, aws_account_id, product_code, license_arn })
            }
            _ => Err(ResolveError::Unavailable("ResolveCustomer answered without a customer or a licence".into())),
        }
    }
}

/// `BatchMeterUsage`, records of many customers together.
pub struct AwsMeter {
    client: aws_sdk_marketplacemetering::Client,
}

impl AwsMeter {
    pub fn new(client: aws_sdk_marketplacemetering::Client) -> Self {
        Self { client }
    }
}

/// How many times records left unprocessed are sent again within one run.
const UNPROCESSED_ATTEMPTS: u32 = 3;

/// What identifies one record in a call's answer: (customer, licence, dimension, time).
fn record_key(r: &UsageRecord) -> (String, String, String, i64) {
    let customer = r
        .customer_aws_account_id()
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| r.customer_identifier().to_string());
    (customer, r.license_arn().unwrap_or_default().to_string(), r.dimension().to_string(), r.timestamp().secs())
}

/// The record for one report, or why it cannot be sent (an outcome, never a changed quantity).
fn usage_record(m: &MeterRecord<'_>) -> Result<UsageRecord, String> {
    let dimension = billing_items::find(&m.report.item)
        .map(|i| i.aws_dimension)
        .ok_or_else(|| format!("no dimension for {}", m.report.item))?;
    let quantity =
        i32::try_from(m.report.quantity).map_err(|_| format!("quantity {} is above AWS's", m.report.quantity))?;
    let b = UsageRecord::builder()
        .timestamp(aws_sdk_marketplacemetering::primitives::DateTime::from_secs(m.report.at.timestamp()))
        .dimension(dimension)
        .quantity(quantity);
    let b = match (&m.account.license_arn, &m.account.customer_identifier) {
        (Some(license), _) => b.customer_aws_account_id(&m.account.account_id).license_arn(license),
        (None, Some(customer)) => b.customer_identifier(customer),
        (None, None) => return Err("an AWS account with neither a licence nor a customer identifier".into()),
    };
    b.build().map_err(|e| e.to_string())
}

impl AwsMeter {
    /// One call; a refusal that names no record is [`Whole::ForOne`] (the call is then split).
    async fn call(&self, product_code: Option<&str>, batch: Vec<(usize, UsageRecord)>) -> Whole {
        let sent = self
            .client
            .batch_meter_usage()
            .set_product_code(product_code.map(str::to_string))
            .set_usage_records(Some(batch.iter().map(|(_, u)| u.clone()).collect()))
            .send()
            .await;
        let answer = match sent {
            Ok(a) => a,
            Err(e) => {
                let why = aws_sdk_marketplacemetering::error::DisplayErrorContext(&e).to_string();
                return match e.as_service_error() {
                    Some(
                        BatchMeterUsageError::InvalidLicenseException(_)
                        | BatchMeterUsageError::InvalidCustomerIdentifierException(_),
                    ) => Whole::ForOne(SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)),
                    Some(BatchMeterUsageError::TimestampOutOfBoundsException(_)) => {
                        Whole::ForOne(SendOutcome::Refused(FallbackReason::WindowPassed))
                    }
                    Some(BatchMeterUsageError::ThrottlingException(_)) => Whole::Failed(why),
                    // A record AWS cannot read (a dimension or product not the listing's, a
                    // malformed field): found by splitting, then kept pending and logged.
                    Some(
                        BatchMeterUsageError::InvalidUsageDimensionException(_)
                        | BatchMeterUsageError::InvalidProductCodeException(_)
                        | BatchMeterUsageError::InvalidTagException(_)
                        | BatchMeterUsageError::InvalidUsageAllocationsException(_),
                    ) => {
                        tracing::error!(error = %why, records = batch.len(), "BatchMeterUsage refused a record");
                        Whole::ForOne(SendOutcome::Retry(why))
                    }
                    _ if e.raw_response().is_some_and(|r| r.status().as_u16() == 400) => {
                        tracing::error!(error = %why, records = batch.len(), "BatchMeterUsage refused the request");
                        Whole::ForOne(SendOutcome::Retry(why))
                    }
                    _ => {
                        tracing::warn!(error = %why, "BatchMeterUsage failed; the records are sent again next run");
                        Whole::Failed(why)
                    }
                };
            }
        };
        let by_key: HashMap<_, usize> = batch.iter().map(|(i, u)| (record_key(u), *i)).collect();
        let mut outcomes = Vec::new();
        for result in answer.results() {
            let (Some(u), Some(status)) = (result.usage_record(), result.status()) else { continue };
            let Some(i) = by_key.get(&record_key(u)) else { continue };
            outcomes.push((
                *i,
                match status {
                    // A record sent again as it was is `Success`: AWS de-duplicates it.
                    UsageRecordResultStatus::Success => SendOutcome::Accepted,
                    UsageRecordResultStatus::DuplicateRecord => SendOutcome::Refused(FallbackReason::DuplicateRecord),
                    UsageRecordResultStatus::CustomerNotSubscribed => {
                        SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
                    }
                    other => SendOutcome::Retry(format!("status {}", other.as_str())),
                },
            ));
        }
        let again = answer.unprocessed_records().iter().filter_map(|u| by_key.get(&record_key(u)).copied()).collect();
        Whole::Answered { outcomes, again }
    }
}

#[async_trait]
impl MarketMeter for AwsMeter {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        let mut out = vec![SendOutcome::Retry("not sent".into()); records.len()];
        // One product a call; a licence's records without the request-level product code.
        let mut groups: BTreeMap<(bool, String), Vec<(usize, UsageRecord)>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            match usage_record(r) {
                Ok(u) => {
                    let by_licence = u.license_arn().is_some();
                    let product = r.account.product_code.clone().unwrap_or_default();
                    groups.entry((by_licence, product)).or_default().push((i, u));
                }
                Err(why) => {
                    tracing::error!(cloud_account = %r.account.id, error = %why, "record not sendable to AWS");
                    out[i] = SendOutcome::Retry(why);
                }
            }
        }
        for ((by_licence, product), group) in groups {
            let product_code = (!by_licence && !product.is_empty()).then_some(product.as_str());
            if !by_licence && product_code.is_none() {
                for (i, _) in group {
                    out[i] = SendOutcome::Retry("a customer identifier without its product code".into());
                }
                continue;
            }
            for chunk in group.chunks(batch_limit(billing_domain::model::Platform::Aws)) {
                split::send(chunk.to_vec(), UNPROCESSED_ATTEMPTS, &mut out, |b| self.call(product_code, b)).await;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_customer_identifiers_leave_the_wire_and_nothing_else_changes() {
        let sdk = br#"{"UsageRecords":[{"Timestamp":1700000000,"CustomerIdentifier":"","Dimension":"dim","Quantity":0,"CustomerAWSAccountId":"123456789012","LicenseArn":"arn:aws:license-manager::1:license:l-1"},{"CustomerIdentifier":"c-1","Dimension":"d","Timestamp":1}],"ProductCode":"p"}"#;
        let fixed: Value = serde_json::from_slice(&without_empty_identifiers(sdk).unwrap().unwrap()).unwrap();
        assert!(fixed["UsageRecords"][0].get("CustomerIdentifier").is_none());
        assert_eq!(fixed["UsageRecords"][0]["CustomerAWSAccountId"], "123456789012");
        assert_eq!(fixed["UsageRecords"][1]["CustomerIdentifier"], "c-1");
        assert_eq!(fixed["ProductCode"], "p");
        assert_eq!(without_empty_identifiers(br#"{"UsageRecords":[{"CustomerIdentifier":"c"}]}"#).unwrap(), None);
    }
}
