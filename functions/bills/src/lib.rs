//! `bills`: the billing items, a month's bill (JSON, or CSV with `Accept: text/csv`), balances,
//! and a workspace's settlement history.

use billing_domain::billing_items::{BillingItemView, ITEMS};
use billing_domain::service::billing;
use billing_http::{json, respond, route, App, HttpResponse, Request, Result};
use lambda_http::{Body, Response};
use serde_json::json as j;

/// What this function reads at start-up and at run time (the token signing keys; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::TOKENS;

pub const ROUTES: &[route::Route] = &[
    ("GET", "/v1/billing/items"),
    ("GET", "/v1/billing/bills/{month}"),
    ("GET", "/v1/billing/balance"),
    ("GET", "/v1/workspaces/{workspace_id}/settlement-history"),
];

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    let (route, ids) = route::find(req, ROUTES)?;
    if route == 0 {
        let items: Vec<BillingItemView> = ITEMS.iter().map(BillingItemView::from).collect();
        return Ok(json(200, &j!({ "items": items })));
    }
    let caller = app.caller(req).await?;
    let deps = &app.deps;
    Ok(match route {
        1 => {
            let bill = billing::bill(deps, &caller, &ids[0]).await?;
            if wants_csv(req) {
                let name = format!("bill-{}.csv", ids[0]);
                text(200, "text/csv; charset=utf-8", bill.csv(), Some(&name))
            } else {
                text(200, "application/json", bill.json(), None)
            }
        }
        2 => json(200, &billing::balances(deps, &caller).await?),
        _ => json(200, &j!({ "entries": billing::history(deps, &caller, &ids[0]).await? })),
    })
}

/// Whether `Accept` prefers `text/csv` to JSON (by its q-values; JSON on a tie or without one).
fn wants_csv(req: &Request) -> bool {
    let accept = req.headers().get_all("accept").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let q_of = |wanted: &[&str]| -> f32 {
        accept
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next()?.to_ascii_lowercase();
                let q = parts.find_map(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
                wanted.contains(&media.as_str()).then_some(q)
            })
            .fold(0.0, f32::max)
    };
    let csv = q_of(&["text/csv"]);
    csv > 0.0 && csv > q_of(&["application/json", "application/*", "*/*"])
}

fn text(status: u16, content_type: &str, body: String, attachment: Option<&str>) -> HttpResponse {
    let mut r = Response::builder().status(status).header("content-type", content_type);
    if let Some(name) = attachment {
        r = r.header("content-disposition", format!("attachment; filename=\"{name}\""));
    }
    r.body(Body::Text(body)).expect("static parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_accept(accept: Option<&str>) -> Request {
        let mut b = lambda_http::http::Request::builder().uri("https://x/v1/billing/bills/2026-11");
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        b.body(Body::Empty).unwrap()
    }

    #[test]
    fn csv_only_when_accept_prefers_it() {
        let cases = [
            (None, false),
            (Some("text/csv"), true),
            (Some("TEXT/CSV; charset=utf-8"), true),
            (Some("application/json"), false),
            (Some("*/*"), false),
            (Some("text/csv, application/json"), false),
            (Some("text/csv, application/json;q=0.5"), true),
            (Some("text/csv;q=0, */*"), false),
            (Some("text/html"), false),
        ];
        for (accept, want) in cases {
            assert_eq!(wants_csv(&with_accept(accept)), want, "{accept:?}");
        }
    }
}
