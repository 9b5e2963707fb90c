//! Huawei Cloud KooGallery (华为云云商店), as its SaaS access guide V2.0 publishes it: the SaaS
//! interface it calls us through (`saas`, signed as `saas_signature` says), the pay-per-use usage
//! push we report with (`usage_push`), and the order query that names an order's buyer
//! (`order_query`, signed with API Gateway's AK/SK scheme, `apig`). docs/marketplaces/huawei.md
//! lists each rule with its page.

pub mod apig;
pub mod order_query;
pub mod saas;
pub mod saas_signature;
pub mod usage_push;
