//! KooGallery's order query ("Querying an Order" / 查询订单, zh-cn_topic_0070649350): `GET
//! .../api/mkp-openapi-public/global/v1/order/query?orderId=&orderLineId=`, signed with an AK/SK
//! (`apig`). Its answer names the buyer: `{"resultCode": "MKT.0000", "orderInfo": {..., "buyerInfo":
//! {"customerId", ...}}}`. The V2.0 `newInstance` does not name the buyer; this does.

use super::apig;
use crate::https::Https;
use async_trait::async_trait;
use billing_domain::model::MarketOrder;
use billing_domain::ports::{OrderQuery, OrderQueryError};
use serde_json::Value;
use std::time::Duration;

pub struct KooGalleryOrders {
    http: Https,
    endpoint: String,
    key: Option<(String, String)>,
}

impl KooGalleryOrders {
    pub fn new(http: Https, endpoint: String, key: Option<(String, String)>) -> Self {
        Self { http, endpoint, key }
    }
}

/// The buyer an answer names; `Err` for an answer that is no success.
pub fn buyer(status: u16, text: &str) -> Result<Option<String>, OrderQueryError> {
    let v: Value = serde_json::from_str(text).map_err(|_| OrderQueryError(format!("answered {status}, not JSON")))?;
    match v["resultCode"].as_str() {
        Some("MKT.0000") if (200..300).contains(&status) => Ok(v["orderInfo"]["buyerInfo"]["customerId"]
            .as_str()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)),
        code => Err(OrderQueryError(format!("answered {status} {}", code.unwrap_or_default()))),
    }
}

#[async_trait]
impl OrderQuery for KooGalleryOrders {
    async fn buyer(&self, order: &MarketOrder) -> Result<Option<String>, OrderQueryError> {
        let Some((ak, sk)) = &self.key else {
            return Err(OrderQueryError("KooGallery AK/SK are not configured".into()));
        };
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let sep = if self.endpoint.contains('?') { '&' } else { '?' };
        let url =
            format!("{}{sep}orderId={}&orderLineId={}", self.endpoint, enc(&order.order_id), enc(&order.order_line_id));
        let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let content_type = "application/json";
        let (date, authorization) = apig::sign("GET", &url, content_type, "", ak, sk, &date);
        let headers =
            [("content-type", content_type.to_string()), ("x-sdk-date", date), ("authorization", authorization)];
        let (status, text) =
            self.http.get(&url, &headers, Duration::from_secs(2)).await.map_err(|e| OrderQueryError(e.to_string()))?;
        buyer(status, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buyer_is_read_from_a_successful_answer_only() {
        let ok = r#"{"resultCode":"MKT.0000","resultMsg":"Success","orderInfo":{"orderId":"CS1","orderType":"NEW","buyerInfo":{"customerId":"0123456789abcdef0123456789abcdef"}}}"#;
        assert_eq!(buyer(200, ok).unwrap().as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(buyer(200, r#"{"resultCode":"MKT.0000","orderInfo":{}}"#).unwrap(), None);
        assert!(buyer(200, r#"{"resultCode":"MKT.0199"}"#).is_err());
        assert!(buyer(500, "<html>").is_err());
    }
}
