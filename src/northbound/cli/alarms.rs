//! `show alarms`: the alarm list as an operator reads it on a bad day, the
//! raised alarms first (most severe first), then the cleared ones; the
//! schema paths below it (`show alarms summary`, ...) show the rest.
use yang5::data::Data;

use crate::datastore::tree::{self, Tree};

const ALARM: &str = "/ietf-alarms:alarms/alarm-list/alarm";

/// A resource path made short: `/lifeline-ports:ports/port[name='p3']`
/// reads `port p3`.
fn short(resource: &str) -> String {
    let last = resource.rsplit('/').next().unwrap_or(resource);
    match last.split_once('[') {
        Some((list, key)) => {
            let list = list.rsplit(':').next().unwrap_or(list);
            let value = key
                .split_once('=')
                .map_or(key, |(_, v)| v)
                .trim_end_matches(']')
                .trim_matches(['\'', '"']);
            format!("{list} {value}")
        }
        None => resource.to_string(),
    }
}

fn rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "major" => 1,
        "minor" => 2,
        "warning" => 3,
        _ => 4,
    }
}

pub fn render(t: &Tree) -> String {
    // (cleared, rank, severity, since, type, resource, text, operator state)
    let mut rows: Vec<(bool, u8, [String; 6])> = Vec::new();
    for a in t.find_xpath(ALARM).into_iter().flatten() {
        let get = |l: &str| tree::leaf(&a, l).unwrap_or_default();
        let cleared = get("is-cleared") == "true";
        let severity = get("perceived-severity");
        let ty = get("alarm-type-id");
        let ty = ty.rsplit(':').next().unwrap_or(&ty).to_string();
        let q = get("alarm-type-qualifier");
        let op = a
            .find_xpath("operator-state-change")
            .into_iter()
            .flatten()
            .last()
            .and_then(|o| tree::leaf(&o, "state"))
            .unwrap_or_else(|| "-".into());
        rows.push((
            cleared,
            rank(&severity),
            [
                if cleared { "cleared".into() } else { severity },
                get("last-changed")
                    .get(..19)
                    .unwrap_or_default()
                    .replace('T', " "),
                if q.is_empty() {
                    ty
                } else {
                    format!("{ty} {q}")
                },
                short(&get("resource")),
                op,
                get("alarm-text"),
            ],
        ));
    }
    rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(b.2[1].cmp(&a.2[1])));
    let active = rows.iter().filter(|r| !r.0).count();
    let mut out = format!("{} alarms, {active} raised\n", rows.len());
    if rows.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "{:<13} {:<19}  {:<28} {:<20} {:<10} {}\n",
        "severity", "since", "type", "resource", "operator", "text"
    ));
    for (_, _, [sev, since, ty, res, op, text]) in rows {
        out.push_str(&format!(
            "{sev:<13} {since:<19}  {ty:<28} {res:<20} {op:<10} {text}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn resources_read_short() {
        assert_eq!(short("/lifeline-ports:ports/port[name='p3']"), "port p3");
        assert_eq!(
            short("/lifeline-auto-response:auto-response/rule[name=\"r 1\"]"),
            "rule r 1"
        );
        assert_eq!(short("1.3.6.1"), "1.3.6.1");
    }
}
