//! The shadow section: the shadow version against production on the same requests.

use super::drift::distribution_chart;
use super::format::{count, number, percent};
use super::model::ShadowReport;

pub fn section(shadow: Option<&ShadowReport>) -> String {
    let Some(shadow) = shadow else {
        return String::new();
    };
    let facts = [
        ("compared requests", count(shadow.compared)),
        ("not compared", count(shadow.not_compared)),
        ("mean |difference|", number(shadow.mean_abs_difference, 4)),
        ("p99 |difference|", number(shadow.p99_abs_difference, 4)),
        ("max |difference|", number(shadow.max_abs_difference, 4)),
        (
            "decision agreement",
            format!(
                "{} at {}",
                percent(shadow.agreement),
                number(shadow.decision_threshold, 4)
            ),
        ),
        ("score PSI", number(shadow.psi, 4)),
    ];
    let mut out = format!(
        "<section><h2>Shadow v{} against production v{}</h2><dl class=\"facts\">",
        shadow.shadow_version, shadow.production_version
    );
    for (term, value) in facts {
        out.push_str(&format!("<div><dt>{term}</dt><dd>{value}</dd></div>"));
    }
    out.push_str("</dl><div class=\"bars\">");
    out.push_str(&distribution_chart(&shadow.scores, "scores", ("production", "shadow")));
    out.push_str("</div></section>");
    out
}
