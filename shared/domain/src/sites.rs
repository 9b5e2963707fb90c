//! The site catalogue ships with the code (domain.md, "Sites").

use crate::model::Platform;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Site {
    pub id: &'static str,
    pub name: &'static str,
    pub platform: Platform,
}

pub const SITES: &[Site] = &[
    Site { id: "cn1", name: "中国区1（杭州）", platform: Platform::Aliyun },
    Site { id: "cn2", name: "中国区2（宁夏）", platform: Platform::Aws },
    Site { id: "cn4", name: "中国区4（广州）", platform: Platform::Huawei },
    Site { id: "cn6", name: "中国区6（香港）", platform: Platform::Aliyun },
    Site { id: "us1", name: "海外区1（俄勒冈）", platform: Platform::Aws },
    Site { id: "eu1", name: "欧洲区1（法兰克福）", platform: Platform::Aws },
    Site { id: "ap1", name: "亚太区1（新加坡）", platform: Platform::Aws },
];

pub fn find(id: &str) -> Option<&'static Site> {
    SITES.iter().find(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_matches_domain_md() {
        let got: Vec<(&str, Platform)> = SITES.iter().map(|s| (s.id, s.platform)).collect();
        assert_eq!(
            got,
            vec![
                ("cn1", Platform::Aliyun),
                ("cn2", Platform::Aws),
                ("cn4", Platform::Huawei),
                ("cn6", Platform::Aliyun),
                ("us1", Platform::Aws),
                ("eu1", Platform::Aws),
                ("ap1", Platform::Aws),
            ]
        );
        assert_eq!(find("cn4").map(|s| s.name), Some("中国区4（广州）"));
        assert!(find("cn3").is_none());
    }
}
