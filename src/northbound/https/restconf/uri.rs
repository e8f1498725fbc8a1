//! RFC 8040's request URIs without the schema: the api-path of section 3.5.3
//! split into steps (percent-decoded per key value, so a `,` or `/` inside a key
//! stays in it) and the query parameters of section 4.8, checked for their
//! syntax. Pure and bounded: the fuzz target feeds it anything.

/// One step of an api-path: `module:name` or `name`, with key values
/// (`name=k1,k2`) for a list entry or a leaf-list value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub module: Option<String>,
    pub name: String,
    /// `None` without `=`; `Some` with the values in order (maybe empty ones).
    pub keys: Option<Vec<String>>,
}

/// RFC 8040's `content` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Content {
    Config,
    Nonconfig,
    #[default]
    All,
}

/// The query parameters a request may carry (RFC 8040 section 4.8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub content: Content,
    /// `None`: unbounded.
    pub depth: Option<u16>,
    /// Selected relative paths (RFC 8040's fields expression, expanded).
    pub fields: Option<Vec<Vec<String>>>,
    pub with_defaults: Option<String>,
    pub filter: Option<String>,
    pub start_time: Option<String>,
    pub stop_time: Option<String>,
    pub insert: Option<String>,
    pub point: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UriError(pub String);

fn err(msg: impl Into<String>) -> UriError {
    UriError(msg.into())
}

/// Bounds on what one request may name.
const MAX_STEPS: usize = 64;
const MAX_LEN: usize = 8192;
/// The most paths one fields expression may select.
const MAX_FIELDS: usize = 256;

/// Percent-decodes one component; `+` stays `+` (RFC 3986, not forms).
pub fn decode(s: &str) -> Result<String, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| err("a bad percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err("a percent-encoding that is not UTF-8"))
}

fn identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Splits `[module:]name` and checks both are YANG identifiers.
fn api_identifier(s: &str) -> Result<(Option<String>, String), UriError> {
    let (m, n) = match s.split_once(':') {
        Some((m, n)) => (Some(m), n),
        None => (None, s),
    };
    if !identifier(n) || m.is_some_and(|m| !identifier(m)) {
        return Err(err(format!("\"{s}\" is not a node name")));
    }
    Ok((m.map(str::to_string), n.to_string()))
}

/// Parses an api-path (what follows `{+restconf}/data/`, still encoded); the
/// empty path is the datastore itself. The first step must name its module.
pub fn parse_path(raw: &str) -> Result<Vec<Step>, UriError> {
    if raw.len() > MAX_LEN {
        return Err(err("the path is too long"));
    }
    let raw = raw.trim_end_matches('/');
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let mut steps = Vec::new();
    for seg in raw.split('/') {
        if steps.len() == MAX_STEPS {
            return Err(err("the path has too many steps"));
        }
        if seg.is_empty() {
            return Err(err("the path has an empty step"));
        }
        let (name, keys) = match seg.split_once('=') {
            Some((n, k)) => (n, Some(k.split(',').map(decode).collect::<Result<_, _>>()?)),
            None => (seg, None),
        };
        let (module, name) = api_identifier(&decode(name)?)?;
        if steps.is_empty() && module.is_none() {
            return Err(err(format!(
                "the first step \"{name}\" must name its module (module:{name})"
            )));
        }
        steps.push(Step { module, name, keys });
    }
    Ok(steps)
}

/// Parses RFC 8040's fields expression, e.g. `a(b;c/d)/e;f`, into the paths it
/// selects, relative to the target: `a/b`, `a/c/d/e`... each a list of steps.
pub fn parse_fields(s: &str) -> Result<Vec<Vec<String>>, UriError> {
    let chars: Vec<char> = s.chars().collect();
    let mut pos = 0;
    let out = fields_list(&chars, &mut pos, 0)?;
    if pos != chars.len() {
        return Err(err("the fields expression has an unmatched ')'"));
    }
    if out.is_empty() {
        return Err(err("the fields expression is empty"));
    }
    Ok(out)
}

/// `expr *(";" expr)`, up to a `)` or the end.
fn fields_list(c: &[char], pos: &mut usize, nest: usize) -> Result<Vec<Vec<String>>, UriError> {
    if nest > 16 {
        return Err(err("the fields expression nests too deep"));
    }
    let mut out = Vec::new();
    loop {
        out.extend(fields_expr(c, pos, nest)?);
        if out.len() > MAX_FIELDS {
            return Err(err("the fields expression selects too much"));
        }
        match c.get(*pos) {
            Some(';') => *pos += 1,
            _ => return Ok(out),
        }
    }
}

/// `path ["(" list ")"] ["/" expr]`: the paths one expression selects.
fn fields_expr(c: &[char], pos: &mut usize, nest: usize) -> Result<Vec<Vec<String>>, UriError> {
    let mut path = Vec::new();
    loop {
        let start = *pos;
        while *pos < c.len() && !matches!(c[*pos], '/' | '(' | ')' | ';') {
            *pos += 1;
        }
        let name: String = c[start..*pos].iter().collect();
        api_identifier(&name)?;
        path.push(name);
        match c.get(*pos) {
            Some('/') => *pos += 1,
            Some('(') => {
                *pos += 1;
                let inner = fields_list(c, pos, nest + 1)?;
                if c.get(*pos) != Some(&')') {
                    return Err(err("the fields expression misses a ')'"));
                }
                *pos += 1;
                let mut out: Vec<Vec<String>> = inner
                    .into_iter()
                    .map(|i| path.iter().cloned().chain(i).collect())
                    .collect();
                if c.get(*pos) == Some(&'/') {
                    *pos += 1;
                    let rest = fields_expr(c, pos, nest + 1)?;
                    // `a(b;c)/d(e;f)/...` multiplies: bound it before it is built.
                    if out.len().saturating_mul(rest.len()) > MAX_FIELDS {
                        return Err(err("the fields expression selects too much"));
                    }
                    out = out
                        .into_iter()
                        .flat_map(|o| {
                            rest.iter()
                                .map(move |r| o.iter().cloned().chain(r.iter().cloned()).collect())
                        })
                        .collect();
                }
                return Ok(out);
            }
            _ => return Ok(vec![path]),
        }
    }
}

/// Parses the query string (still encoded). Each parameter may appear once;
/// unknown ones are an error (RFC 8040 section 4.8).
pub fn parse_query(raw: Option<&str>) -> Result<Query, UriError> {
    let mut q = Query::default();
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(q);
    };
    if raw.len() > MAX_LEN {
        return Err(err("the query is too long"));
    }
    let mut seen: Vec<&str> = Vec::new();
    for pair in raw.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if seen.contains(&k) {
            return Err(err(format!("the query parameter {k} is given twice")));
        }
        seen.push(k);
        let v = decode(v)?;
        match k {
            "content" => {
                q.content = match v.as_str() {
                    "config" => Content::Config,
                    "nonconfig" => Content::Nonconfig,
                    "all" => Content::All,
                    _ => return Err(err("content is config, nonconfig or all")),
                }
            }
            "depth" => {
                q.depth = match v.as_str() {
                    "unbounded" => None,
                    n => match n.parse::<u16>() {
                        Ok(d) if d >= 1 => Some(d),
                        _ => return Err(err("depth is 1..65535 or unbounded")),
                    },
                }
            }
            "fields" => q.fields = Some(parse_fields(&v)?),
            "with-defaults" => {
                if !matches!(
                    v.as_str(),
                    "report-all" | "trim" | "explicit" | "report-all-tagged"
                ) {
                    return Err(err(
                        "with-defaults is report-all, trim, explicit or report-all-tagged",
                    ));
                }
                q.with_defaults = Some(v)
            }
            "filter" => q.filter = Some(v),
            "start-time" => q.start_time = Some(v),
            "stop-time" => q.stop_time = Some(v),
            "insert" => {
                if !matches!(v.as_str(), "first" | "last" | "before" | "after") {
                    return Err(err("insert is first, last, before or after"));
                }
                q.insert = Some(v)
            }
            "point" => q.point = Some(v),
            _ => return Err(err(format!("unknown query parameter \"{k}\""))),
        }
    }
    Ok(q)
}

/// A fuzz entry point: whatever the input, no panic.
pub fn fuzz(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = s.split_once('?').unwrap_or((s, ""));
    let _ = parse_path(path);
    let _ = parse_query(Some(query));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_steps_with_decoded_keys() {
        let s = parse_path("lifeline-power:power/device=pdu%2C1/outlet=t1/cycle").unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].module.as_deref(), Some("lifeline-power"));
        assert_eq!(s[1].keys, Some(vec!["pdu,1".to_string()]));
        assert_eq!(s[3].keys, None);
        let s = parse_path("m:l=a,,b%2Fc").unwrap();
        assert_eq!(s[0].keys, Some(vec!["a".into(), "".into(), "b/c".into()]));
        assert_eq!(parse_path("").unwrap(), vec![]);
        for bad in ["power", "m:a//b", "m:a/1b", "m:a=%zz", "m:a=%ff", "m:/x"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_expand_to_paths() {
        let f = parse_fields("a(b;c/d)/e;f").unwrap();
        let f: Vec<String> = f.iter().map(|p| p.join("/")).collect();
        assert_eq!(f, ["a/b/e", "a/c/d/e", "f"]);
        assert_eq!(
            parse_fields("m:x/y").unwrap(),
            vec![vec!["m:x".to_string(), "y".into()]]
        );
        let explode = "a(b;c)/".repeat(12) + "d";
        for bad in ["", "a(b", "a)b", "a(;)", "a((b))", "a//b", explode.as_str()] {
            assert!(parse_fields(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queries_are_checked() {
        let q = parse_query(Some("depth=2&content=config&with-defaults=report-all")).unwrap();
        assert_eq!(q.depth, Some(2));
        assert_eq!(q.content, Content::Config);
        assert_eq!(q.with_defaults.as_deref(), Some("report-all"));
        assert_eq!(parse_query(Some("depth=unbounded")).unwrap().depth, None);
        for bad in [
            "depth=0",
            "depth=x",
            "content=some",
            "foo=1",
            "depth=1&depth=2",
            "with-defaults=all",
        ] {
            assert!(parse_query(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn seed_corpus_runs_clean() {
        for input in crate::seed_corpus("restconf_uri") {
            fuzz(&input);
        }
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "%", "%%%", "m:a=%", "a(", "((((", "m:a=,,,,", "?depth=", "\u{0}",
        ] {
            fuzz(s.as_bytes());
            fuzz(format!("m:a?fields={s}").as_bytes());
        }
    }
}
