use super::*;
use crate::model::CloudStatus;
use crate::sites::SITES;

fn account(id: &str, platform: Platform) -> CloudAccount {
    CloudAccount {
        id: id.into(),
        platform,
        account_id: "1234567890123456".into(),
        instance_id: (platform != Platform::Aws).then(|| "i-1".into()),
        customer_identifier: (platform == Platform::Aws).then(|| "c-1".into()),
        product_code: (platform == Platform::Aws).then(|| "p-1".into()),
        license_arn: None,
        status: CloudStatus::Active,
        last_event_at: Utc::now(),
        cancelled_at: None,
        refused_at: None,
        opened_at: None,
        order: None,
        freezes: Vec::new(),
    }
}

fn summary(opts: &[SettlementOption]) -> Vec<String> {
    opts.iter()
        .map(|o| match (&o.cloud_account_id, o.recommended) {
            (Some(id), true) => format!("registered:{id}*"),
            (Some(id), false) => format!("registered:{id}"),
            (None, _) => format!("{:?}", o.method).to_lowercase(),
        })
        .collect()
}

/// domain.md's table, read row by row, written out for one site platform `p`.
fn expected(registered: &[CloudAccount], free_choice: bool, p: Platform) -> Vec<String> {
    let r = !registered.is_empty();
    let mut out = Vec::new();
    let new_on = |ps: &[Platform]| -> Vec<String> { ps.iter().map(|p| format!("{p:?}").to_lowercase()).collect() };
    match (r, free_choice) {
        // registered cloud accounts on platform P (recommended), a new account on P, enterprise
        (true, false) => {
            out.extend(registered.iter().filter(|a| a.platform == p).map(|a| format!("registered:{}*", a.id)));
            out.extend(new_on(&[p]));
        }
        // all registered cloud accounts (recommended), a new account on any platform, enterprise
        (true, true) => {
            out.extend(registered.iter().map(|a| format!("registered:{}*", a.id)));
            out.extend(new_on(&[Platform::Aliyun, Platform::Aws, Platform::Huawei]));
        }
        // a new account on any platform, enterprise
        (false, true) => out.extend(new_on(&[Platform::Aliyun, Platform::Aws, Platform::Huawei])),
        // a new account on P, enterprise
        (false, false) => out.extend(new_on(&[p])),
    }
    out.push("enterprise".into());
    out
}

#[test]
fn four_scenarios_for_every_site_registered_set_free_choice_and_current_settlement() {
    let currents = [
        Settlement::Enterprise,
        Settlement::Huawei { account_id: "hw-1".into(), instance_id: "h-1".into() },
        Settlement::Aliyun { account_id: "1234567890123456".into(), instance_id: "i-1".into() },
        Settlement::Aws {
            customer_identifier: Some("c-1".into()),
            aws_account_id: "111122223333".into(),
            product_code: "p-1".into(),
            license_arn: None,
        },
    ];
    let mut rows = 0;
    for site in SITES {
        let p = site.platform;
        let other = if p == Platform::Aliyun { Platform::Aws } else { Platform::Aliyun };
        let registered_sets: [(&str, Vec<CloudAccount>); 4] = [
            ("none", vec![]),
            ("same", vec![account("same", p)]),
            ("other", vec![account("other", other)]),
            ("both", vec![account("same", p), account("other", other)]),
        ];
        for (label, registered) in &registered_sets {
            for free_choice in [false, true] {
                for current in &currents {
                    let got = options(registered, free_choice, p, current);
                    assert_eq!(
                        summary(&got),
                        expected(registered, free_choice, p),
                        "site {} registered {label} free_choice {free_choice} current {current:?}",
                        site.id
                    );
                    assert!(got.iter().filter(|o| o.current).count() <= 1);
                    assert_eq!(got.last().map(|o| o.method), Some(Method::Enterprise), "enterprise is always offered");
                    rows += 1;
                }
            }
        }
    }
    assert_eq!(rows, 7 * 4 * 2 * 4);
}

#[test]
fn a_huawei_site_without_free_choice_offers_a_huawei_account_and_enterprise() {
    let got = options(&[], false, Platform::Huawei, &Settlement::Enterprise);
    assert_eq!(summary(&got), vec!["huawei", "enterprise"]);
}

#[test]
fn frozen_accounts_are_not_offered_and_do_not_lock() {
    let mut a = account("huawei-i-1", Platform::Huawei);
    a.status = CloudStatus::Frozen;
    assert!(!a.is_active());
    let got = options(&[a], false, Platform::Huawei, &Settlement::Enterprise);
    assert_eq!(summary(&got), vec!["huawei", "enterprise"]);
}

#[test]
fn cancelled_accounts_are_not_offered() {
    let mut a = account("gone", Platform::Aliyun);
    a.status = CloudStatus::Cancelled;
    let got = options(&[a], false, Platform::Aliyun, &Settlement::Enterprise);
    assert_eq!(summary(&got), vec!["aliyun", "enterprise"]);
}

#[test]
fn the_current_option_is_marked() {
    let a = account("aliyun-i-1", Platform::Aliyun);
    let current = a.settlement();
    let got = options(&[a], false, Platform::Aliyun, &current);
    assert!(got[0].current);
    assert!(!got.last().unwrap().current);
}

#[test]
fn only_offered_methods_pass_the_offer_check() {
    let got = options(&[account("x", Platform::Aliyun)], false, Platform::Aliyun, &Settlement::Enterprise);
    assert!(check_offered(&got, Method::Aliyun, None).is_ok());
    assert!(check_offered(&got, Method::Registered, Some("x")).is_ok());
    assert_eq!(check_offered(&got, Method::Registered, Some("y")), Err(Error::SettlementNotAllowed));
    assert_eq!(check_offered(&got, Method::Aws, None), Err(Error::SettlementNotAllowed));
    assert!(check_offered(&got, Method::Enterprise, None).is_ok());
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

#[test]
fn cloud_to_another_cloud_is_locked_while_the_current_one_is_active() {
    let aliyun = Settlement::Aliyun { account_id: "1".into(), instance_id: "a".into() };
    let other = Settlement::Aliyun { account_id: "1".into(), instance_id: "b".into() };
    let aws = Settlement::Aws {
        customer_identifier: Some("c".into()),
        aws_account_id: "2".into(),
        product_code: "p".into(),
        license_arn: None,
    };
    let now = at(2026, 5, 10);
    assert_eq!(decide_change(&aliyun, true, &other, None, now), Err(Error::CloudAccountLocked));
    assert_eq!(decide_change(&aliyun, true, &aws, None, now), Err(Error::CloudAccountLocked));
    assert_eq!(decide_change(&aliyun, true, &Settlement::Enterprise, None, now), Ok(Change::Apply));
    assert_eq!(decide_change(&aliyun, false, &other, None, now), Ok(Change::Apply));
    assert_eq!(decide_change(&Settlement::Enterprise, false, &aws, None, now), Ok(Change::Apply));
    assert_eq!(decide_change(&aliyun, true, &aliyun, None, now), Ok(Change::Unchanged));
}

#[test]
fn one_change_per_calendar_month_utc() {
    let aws = Settlement::Aws {
        customer_identifier: Some("c".into()),
        aws_account_id: "2".into(),
        product_code: "p".into(),
        license_arn: None,
    };
    let last = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
    let next = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        decide_change(&Settlement::Enterprise, false, &aws, Some(at(2026, 12, 1)), last),
        Err(Error::SettlementChangeLimit { next })
    );
    assert_eq!(decide_change(&Settlement::Enterprise, false, &aws, Some(last), next), Ok(Change::Apply));
    assert_eq!(
        next_change_at(Some(at(2026, 5, 3)), at(2026, 5, 30)),
        Some(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap())
    );
    assert_eq!(next_change_at(Some(at(2026, 4, 30)), at(2026, 5, 1)), None);
    assert_eq!(next_change_at(Some(at(2025, 5, 3)), at(2026, 5, 30)), None, "same month of another year");
    assert_eq!(next_change_at(None, at(2026, 5, 30)), None);
}
