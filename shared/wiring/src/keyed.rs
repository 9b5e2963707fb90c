//! Adapters whose keys are secrets: built when first used, from the secret as it then is, and
//! built again when the secret's value changes (a rotation). A function that never calls a
//! marketplace never reads its keys.

use async_trait::async_trait;
use billing_adapters::secrets::Secret;
use billing_domain::crypto::token::TokenKeys;
use billing_domain::model::MarketOrder;
use billing_domain::ports::{MarketMeter, MeterRecord, OrderQuery, OrderQueryError, TokenKeyring};
use billing_domain::rules::metering::SendOutcome;
use std::sync::{Arc, Mutex};

type Build<K> = Box<dyn Fn(&K) -> Arc<dyn MarketMeter> + Send + Sync>;
/// The meter built last, and the key it was built with.
type Built<K> = Option<(Arc<K>, Arc<dyn MarketMeter>)>;

/// A marketplace's usage push, signed with a key read from Secrets Manager.
pub struct KeyedMeter<K> {
    key: Secret<K>,
    build: Build<K>,
    built: Mutex<Built<K>>,
}

impl<K: Send + Sync + 'static> KeyedMeter<K> {
    pub fn new(key: Secret<K>, build: impl Fn(&K) -> Arc<dyn MarketMeter> + Send + Sync + 'static) -> Self {
        Self { key, build: Box::new(build), built: Mutex::new(None) }
    }

    fn meter(&self, key: Arc<K>) -> Arc<dyn MarketMeter> {
        let mut built = self.built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*built {
            Some((k, m)) if Arc::ptr_eq(k, &key) => m.clone(),
            _ => {
                let m = (self.build)(&key);
                *built = Some((key, m.clone()));
                m
            }
        }
    }
}

#[async_trait]
impl<K: Send + Sync + 'static> MarketMeter for KeyedMeter<K> {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        match self.key.get().await {
            Ok(key) => self.meter(key).send(records).await,
            Err(e) => {
                // Not this time: the reports stay pending and go with the next run.
                tracing::error!(error = %e, "marketplace key unavailable: usage not reported this time");
                records.iter().map(|_| SendOutcome::Retry(e.to_string())).collect()
            }
        }
    }
}

/// KooGallery's order query, signed with an AK/SK read from Secrets Manager when first asked.
pub struct KeyedOrders<K, Q> {
    key: Secret<K>,
    build: Box<dyn Fn(&K) -> Q + Send + Sync>,
}

impl<K: Send + Sync + 'static, Q: OrderQuery> KeyedOrders<K, Q> {
    pub fn new(key: Secret<K>, build: impl Fn(&K) -> Q + Send + Sync + 'static) -> Self {
        Self { key, build: Box::new(build) }
    }
}

#[async_trait]
impl<K: Send + Sync + 'static, Q: OrderQuery> OrderQuery for KeyedOrders<K, Q> {
    async fn buyer(&self, order: &MarketOrder) -> Result<Option<String>, OrderQueryError> {
        // Building the query is a few clones: no cache needed, and a rotated key is used at once.
        let key = self.key.get().await.map_err(|e| OrderQueryError(e.to_string()))?;
        (self.build)(&key).buyer(order).await
    }
}

/// The order query of a function that asks KooGallery nothing.
pub struct NoOrders;

#[async_trait]
impl OrderQuery for NoOrders {
    async fn buyer(&self, _order: &MarketOrder) -> Result<Option<String>, OrderQueryError> {
        Err(OrderQueryError("this function does not query KooGallery's orders".into()))
    }
}

/// The meter of a function that reports no usage (it holds no marketplace key).
pub struct NoMeter;

#[async_trait]
impl MarketMeter for NoMeter {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        records.iter().map(|_| SendOutcome::Retry("this function does not report usage".into())).collect()
    }
}

/// The token keys of a function that neither issues nor checks tokens.
pub struct NoTokenKeys;

#[async_trait]
impl TokenKeyring for NoTokenKeys {
    async fn keys(&self) -> billing_domain::Result<Arc<TokenKeys>> {
        Err(billing_domain::Error::internal("this function holds no token signing keys"))
    }

    async fn reload(&self) -> billing_domain::Result<Arc<TokenKeys>> {
        self.keys().await
    }
}
