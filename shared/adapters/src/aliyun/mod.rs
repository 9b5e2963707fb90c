//! Alibaba Cloud Marketplace (云市场), as its pages publish it: the SPI it calls us through
//! (`spi`, signed with `spi_token`) and the metering push we report usage with (`metering`,
//! `PushMeteringData`). docs/marketplaces/aliyun.md lists each rule with its page.

pub mod metering;
pub mod spi;
pub mod spi_token;
