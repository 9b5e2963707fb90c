//! Who may report usage for which site (flow 8): each site names the IAM roles of its
//! exporters (`SiteExporters` in template.yaml, `SITE_EXPORTERS` locally). A caller is known
//! by the role in the ARN API Gateway's IAM authorizer hands over.

use std::collections::{BTreeMap, BTreeSet};

/// Site → the role names allowed to report its workspaces' usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteExporters {
    /// Role names lower-cased: IAM does not tell role names apart by case.
    roles: BTreeMap<String, BTreeSet<String>>,
}

/// A caller that reports for at least one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exporter {
    pub role: String,
    pub sites: BTreeSet<String>,
}

impl Exporter {
    pub fn reports_for(&self, site: &str) -> bool {
        self.sites.contains(site)
    }
}

impl SiteExporters {
    /// `{"cn1": ["cn1-exporter"], "us1": ["us1-exporter", "ops"]}`. Every site must be one of
    /// the catalogue and every role a valid IAM role name, so that a typo fails at start-up
    /// rather than refusing a site's usage for good.
    pub fn parse(json: &str) -> Result<SiteExporters, String> {
        let map: BTreeMap<String, Vec<String>> =
            serde_json::from_str(json).map_err(|e| format!("must be a JSON object of site → role names: {e}"))?;
        let mut roles = BTreeMap::new();
        for (site, names) in map {
            if crate::sites::find(&site).is_none() {
                return Err(format!("{site:?} is not a site of the catalogue"));
            }
            let mut set = BTreeSet::new();
            for name in names {
                if !is_role_name(&name) {
                    return Err(format!("{name:?} (site {site}) is not an IAM role name"));
                }
                set.insert(name.to_ascii_lowercase());
            }
            roles.insert(site, set);
        }
        Ok(SiteExporters { roles })
    }

    /// The caller behind `caller_arn`, if its role reports for any site.
    pub fn exporter(&self, caller_arn: &str) -> Option<Exporter> {
        let role = role_name(caller_arn)?.to_ascii_lowercase();
        let sites: BTreeSet<String> =
            self.roles.iter().filter(|(_, names)| names.contains(&role)).map(|(site, _)| site.clone()).collect();
        (!sites.is_empty()).then_some(Exporter { role, sites })
    }
}

/// IAM role names: 1 to 64 of letters, digits and `+=,.@_-`.
fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// The role name in a caller's ARN: `arn:<partition>:iam::<account>:role/<path/><role>` (the
/// last segment: roles may have paths) or `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`
/// (what API Gateway passes for a caller that assumed the role). Users and anything else: none.
pub fn role_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if *prefix != "arn" || !partition.starts_with("aws") || !region.is_empty() || !account_ok {
        return None;
    }
    let name = match *service {
        "iam" => resource.strip_prefix("role/")?.rsplit('/').next()?,
        "sts" => {
            let rest = resource.strip_prefix("assumed-role/")?;
            let (role, session) = rest.split_once('/')?;
            if session.is_empty() {
                return None;
            }
            role
        }
        _ => return None,
    };
    is_role_name(name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_is_read_from_role_and_assumed_role_arns_only() {
        let cases = [
            ("arn:aws:iam::123456789012:role/cn1-exporter", Some("cn1-exporter")),
            ("arn:aws:iam::123456789012:role/exporters/sites/cn1-exporter", Some("cn1-exporter")),
            ("arn:aws-cn:iam::123456789012:role/cn2-exporter", Some("cn2-exporter")),
            ("arn:aws:sts::123456789012:assumed-role/us1-exporter/i-0abc", Some("us1-exporter")),
            ("arn:aws:sts::123456789012:assumed-role/us1-exporter/session/with/slashes", Some("us1-exporter")),
            ("arn:aws:iam::123456789012:user/cn1-exporter", None),
            ("arn:aws:sts::123456789012:assumed-role/us1-exporter/", None),
            ("arn:aws:sts::123456789012:federated-user/cn1-exporter", None),
            ("arn:aws:iam::123456789012:role/", None),
            ("arn:aws:iam::12345:role/cn1-exporter", None),
            ("arn:aws:s3:::role/cn1-exporter", None),
            ("AIDAEXAMPLE", None),
            ("", None),
        ];
        for (arn, want) in cases {
            assert_eq!(role_name(arn), want, "{arn}");
        }
    }

    #[test]
    fn a_caller_reports_for_the_sites_whose_lists_name_its_role() {
        let e =
            SiteExporters::parse(r#"{"cn1": ["cn1-exporter", "Shared"], "us1": ["us1-exporter", "shared"]}"#).unwrap();
        let cn1 = e.exporter("arn:aws:sts::123456789012:assumed-role/cn1-exporter/run-1").unwrap();
        assert!(cn1.reports_for("cn1") && !cn1.reports_for("us1"));
        let shared = e.exporter("arn:aws:iam::123456789012:role/ops/SHARED").unwrap();
        assert_eq!(shared.sites.iter().map(String::as_str).collect::<Vec<_>>(), ["cn1", "us1"]);
        assert_eq!(e.exporter("arn:aws:iam::123456789012:role/eu1-exporter"), None);
        assert_eq!(e.exporter("arn:aws:iam::123456789012:user/cn1-exporter"), None);
        assert_eq!(SiteExporters::default().exporter("arn:aws:iam::123456789012:role/cn1-exporter"), None);
    }

    #[test]
    fn a_configuration_with_an_unknown_site_or_a_bad_role_is_refused() {
        assert!(SiteExporters::parse(r#"{"cn9": ["x"]}"#).is_err());
        assert!(SiteExporters::parse(r#"{"cn1": ["bad role"]}"#).is_err());
        assert!(SiteExporters::parse(r#"["cn1"]"#).is_err());
        assert_eq!(SiteExporters::parse("{}"), Ok(SiteExporters::default()));
    }
}
