//! What grading found, and the three ways `cargo xtask exercise grade`
//! says it: a table for people, JSON for scripts, JUnit XML for
//! autograders and learning platforms. Written by hand: the course needs
//! no serialisation crate for two small formats.

use std::fmt::Write;

use exercise_checks::{EXERCISES, Exercise, Outcome};

/// The check that clippy passes, which every exercise has besides its own.
pub const CLIPPY: &str = "clippy has nothing to say";

/// How far a student is with an exercise, as `grade` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every check passes, clippy too.
    Passed,
    /// It builds, and some check (or clippy) fails.
    Failed,
    /// The crate does not compile: no check could run.
    DoesNotBuild,
    /// There is no crate in my-exercises/ for it.
    NotStarted,
}

impl Status {
    /// As the JSON report names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::DoesNotBuild => "does-not-build",
            Status::NotStarted => "not-started",
        }
    }
}

/// One check's result, clippy's included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    /// Why it failed, with the hint to read; empty when it passed.
    pub message: String,
}

/// An exercise, graded.
pub struct Graded {
    pub exercise: &'static Exercise,
    pub status: Status,
    /// Every check of the exercise, in order, then clippy.
    pub checks: Vec<CheckResult>,
}

impl Graded {
    /// An exercise with no crate yet: every check listed, none run.
    pub fn not_started(exercise: &'static Exercise) -> Graded {
        let message = format!("not started: cargo xtask exercise start {}", exercise.id);
        Graded::all_unpassed(exercise, Status::NotStarted, &message)
    }

    /// A crate that does not compile: every check fails, saying why.
    pub fn does_not_build(exercise: &'static Exercise, why: &str) -> Graded {
        let message = format!("the crate does not build, so the check could not run: {why}");
        Graded::all_unpassed(exercise, Status::DoesNotBuild, &message)
    }

    fn all_unpassed(exercise: &'static Exercise, status: Status, message: &str) -> Graded {
        let checks = exercise
            .checks
            .iter()
            .map(|check| check.name)
            .chain([CLIPPY])
            .map(|name| CheckResult {
                name: name.to_string(),
                passed: false,
                message: message.to_string(),
            })
            .collect();
        Graded {
            exercise,
            status,
            checks,
        }
    }

    /// A crate that built: its checks' outcomes, then clippy's verdict.
    pub fn built(exercise: &'static Exercise, outcomes: &[Outcome], clippy: CheckResult) -> Graded {
        let mut checks: Vec<CheckResult> = outcomes
            .iter()
            .map(|outcome| CheckResult {
                name: outcome.check.name.to_string(),
                passed: outcome.passed(),
                message: match &outcome.failure {
                    None => String::new(),
                    Some(why) => format!(
                        "{}\nread hint {n}: cargo xtask exercise hint {} {n}",
                        why.trim_end(),
                        exercise.id,
                        n = outcome.check.hint
                    ),
                },
            })
            .collect();
        checks.push(clippy);
        let status = if checks.iter().all(|check| check.passed) {
            Status::Passed
        } else {
            Status::Failed
        };
        Graded {
            exercise,
            status,
            checks,
        }
    }

    pub fn passed_count(&self) -> usize {
        self.checks.iter().filter(|check| check.passed).count()
    }
}

/// `check`'s report: one line per check, PASS or FAIL, and under each
/// failure why and which hint to read.
pub fn text(graded: &Graded) -> String {
    let mut report = String::new();
    for check in &graded.checks {
        let verdict = if check.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(report, "  {verdict}  {}", check.name);
        for line in check.message.lines() {
            let _ = writeln!(report, "        {line}");
        }
    }
    report
}

/// `grade`'s table: one line per exercise.
pub fn table(graded: &[Graded]) -> String {
    let mut table = format!(
        "{:<5} {:<6} {:<15} {:<15} checks\n",
        "id", "stage", "name", "status"
    );
    for exercise in graded {
        let checks = match exercise.status {
            Status::NotStarted => "-".to_string(),
            Status::DoesNotBuild => format!("0/{}", exercise.checks.len()),
            Status::Passed | Status::Failed => {
                format!("{}/{}", exercise.passed_count(), exercise.checks.len())
            }
        };
        let _ = writeln!(
            table,
            "{:<5} {:<6} {:<15} {:<15} {checks}",
            exercise.exercise.id,
            exercise.exercise.stage,
            exercise.exercise.name,
            exercise.status.as_str()
        );
        for check in exercise.checks.iter().filter(|check| !check.passed) {
            if matches!(exercise.status, Status::Failed) {
                let _ = writeln!(table, "      FAIL  {}", check.name);
            }
        }
    }
    let started: Vec<&Graded> = graded
        .iter()
        .filter(|exercise| exercise.status != Status::NotStarted)
        .collect();
    let passed = started
        .iter()
        .filter(|exercise| exercise.status == Status::Passed)
        .count();
    let _ = writeln!(
        table,
        "\n{passed} of {} started exercises pass ({} exercises in the course).",
        started.len(),
        EXERCISES.len()
    );
    table
}

/// The JSON report: `{"exercises": [{"id", "name", "stage", "title",
/// "status", "checks": [{"name", "passed", "message"}]}]}`.
pub fn json(graded: &[Graded]) -> String {
    let mut out = String::from("{\n  \"exercises\": [");
    for (index, exercise) in graded.iter().enumerate() {
        let info = exercise.exercise;
        out.push_str(if index == 0 { "\n" } else { ",\n" });
        let _ = write!(
            out,
            "    {{\n      \"id\": {},\n      \"name\": {},\n      \"stage\": {},\n      \
             \"title\": {},\n      \"status\": {},\n      \"checks\": [",
            json_string(info.id),
            json_string(info.name),
            json_string(info.stage),
            json_string(info.title),
            json_string(exercise.status.as_str())
        );
        for (index, check) in exercise.checks.iter().enumerate() {
            out.push_str(if index == 0 { "\n" } else { ",\n" });
            let _ = write!(
                out,
                "        {{\"name\": {}, \"passed\": {}, \"message\": {}}}",
                json_string(&check.name),
                check.passed,
                json_string(&check.message)
            );
        }
        out.push_str(if exercise.checks.is_empty() {
            "]\n    }"
        } else {
            "\n      ]\n    }"
        });
    }
    out.push_str("\n  ]\n}\n");
    out
}

/// `text` as a JSON string, quotes included (RFC 8259).
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JUnit XML report: one `testsuite` per exercise, one `testcase` per
/// check (clippy included), a `failure` for each failed check, `skipped`
/// for the checks of an exercise not started.
pub fn junit(graded: &[Graded]) -> String {
    let count = |status: Option<Status>, failed: bool| -> usize {
        graded
            .iter()
            .filter(|exercise| status.is_none_or(|status| exercise.status == status))
            .map(|exercise| {
                exercise
                    .checks
                    .iter()
                    .filter(|check| !failed || !check.passed)
                    .count()
            })
            .sum()
    };
    let skipped = count(Some(Status::NotStarted), false);
    let tests = count(None, false);
    let failures = count(None, true) - skipped;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sockets course exercises\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\">"
    );
    for exercise in graded {
        let info = exercise.exercise;
        let not_started = exercise.status == Status::NotStarted;
        let failed = exercise.checks.iter().filter(|check| !check.passed).count();
        let _ = writeln!(
            out,
            "  <testsuite name={} tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            xml_attribute(&format!("{} {}", info.id, info.name)),
            exercise.checks.len(),
            if not_started { 0 } else { failed },
            if not_started { failed } else { 0 }
        );
        let _ = writeln!(
            out,
            "    <properties><property name=\"status\" value={}/></properties>",
            xml_attribute(exercise.status.as_str())
        );
        for check in &exercise.checks {
            let _ = write!(
                out,
                "    <testcase classname={} name={}",
                xml_attribute(&info.dir_name()),
                xml_attribute(&check.name)
            );
            if check.passed {
                out.push_str("/>\n");
                continue;
            }
            let first = check.message.lines().next().unwrap_or("failed");
            if not_started {
                let _ = writeln!(
                    out,
                    "><skipped message={}/></testcase>",
                    xml_attribute(first)
                );
            } else {
                let _ = writeln!(
                    out,
                    "><failure message={}>{}</failure></testcase>",
                    xml_attribute(first),
                    xml_text(&check.message)
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Characters XML 1.0 cannot hold at all (most control characters, an
/// escape sequence's ESC among them), shown as `\u{1b}` instead.
fn xml_char(c: char, out: &mut String) -> bool {
    let allowed = matches!(c, '\t' | '\n' | '\r')
        || matches!(u32::from(c), 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
    if !allowed {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    }
    allowed
}

/// `text` as XML character data.
pub fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !xml_char(c, &mut out) {
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as an XML attribute value, quotes included. Line breaks and
/// tabs are written as character references, which an attribute keeps.
pub fn xml_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if !xml_char(c, &mut out) {
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Small, strict parsers for the two formats, for tests only: a report
/// that one of them rejects would not load anywhere else either.
#[cfg(test)]
pub mod parse {
    /// A JSON value (RFC 8259).
    #[derive(Debug, Clone, PartialEq)]
    pub enum Json {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<Json>),
        Object(Vec<(String, Json)>),
    }

    impl Json {
        pub fn get(&self, key: &str) -> Option<&Json> {
            match self {
                Json::Object(members) => members
                    .iter()
                    .find(|(name, _)| name == key)
                    .map(|(_, value)| value),
                _ => None,
            }
        }

        pub fn str(&self, key: &str) -> &str {
            match self.get(key) {
                Some(Json::String(text)) => text,
                other => panic!("{key:?} is not a string: {other:?}"),
            }
        }

        pub fn bool(&self, key: &str) -> bool {
            match self.get(key) {
                Some(Json::Bool(value)) => *value,
                other => panic!("{key:?} is not a boolean: {other:?}"),
            }
        }

        pub fn array(&self, key: &str) -> &[Json] {
            match self.get(key) {
                Some(Json::Array(items)) => items,
                other => panic!("{key:?} is not an array: {other:?}"),
            }
        }
    }

    /// Parses a whole JSON document.
    pub fn json(text: &str) -> Result<Json, String> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let value = parser.value()?;
        parser.blank();
        if parser.at != parser.chars.len() {
            return Err(format!("trailing characters at {}", parser.at));
        }
        Ok(value)
    }

    struct Parser {
        chars: Vec<char>,
        at: usize,
    }

    impl Parser {
        fn peek(&self) -> Option<char> {
            self.chars.get(self.at).copied()
        }

        fn next(&mut self) -> Result<char, String> {
            let c = self.peek().ok_or("unexpected end")?;
            self.at += 1;
            Ok(c)
        }

        fn blank(&mut self) {
            while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
                self.at += 1;
            }
        }

        fn expect(&mut self, wanted: char) -> Result<(), String> {
            match self.next()? {
                c if c == wanted => Ok(()),
                c => Err(format!("expected {wanted:?}, got {c:?} at {}", self.at - 1)),
            }
        }

        fn word(&mut self, word: &str, value: Json) -> Result<Json, String> {
            for wanted in word.chars() {
                self.expect(wanted)?;
            }
            Ok(value)
        }

        fn value(&mut self) -> Result<Json, String> {
            self.blank();
            match self.peek().ok_or("unexpected end")? {
                '{' => self.object(),
                '[' => self.array(),
                '"' => self.string().map(Json::String),
                't' => self.word("true", Json::Bool(true)),
                'f' => self.word("false", Json::Bool(false)),
                'n' => self.word("null", Json::Null),
                '-' | '0'..='9' => self.number(),
                c => Err(format!("unexpected {c:?} at {}", self.at)),
            }
        }

        fn object(&mut self) -> Result<Json, String> {
            self.expect('{')?;
            let mut members = Vec::new();
            self.blank();
            if self.peek() == Some('}') {
                self.at += 1;
                return Ok(Json::Object(members));
            }
            loop {
                self.blank();
                let name = self.string()?;
                self.blank();
                self.expect(':')?;
                members.push((name, self.value()?));
                self.blank();
                match self.next()? {
                    ',' => {}
                    '}' => return Ok(Json::Object(members)),
                    c => return Err(format!("expected , or }} in an object, got {c:?}")),
                }
            }
        }

        fn array(&mut self) -> Result<Json, String> {
            self.expect('[')?;
            let mut items = Vec::new();
            self.blank();
            if self.peek() == Some(']') {
                self.at += 1;
                return Ok(Json::Array(items));
            }
            loop {
                items.push(self.value()?);
                self.blank();
                match self.next()? {
                    ',' => {}
                    ']' => return Ok(Json::Array(items)),
                    c => return Err(format!("expected , or ] in an array, got {c:?}")),
                }
            }
        }

        fn string(&mut self) -> Result<String, String> {
            self.expect('"')?;
            let mut out = String::new();
            loop {
                match self.next()? {
                    '"' => return Ok(out),
                    '\\' => match self.next()? {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hex: String =
                                (0..4).map(|_| self.next()).collect::<Result<_, _>>()?;
                            let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            out.push(char::from_u32(code).ok_or("a surrogate escape")?);
                        }
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    c if u32::from(c) < 0x20 => {
                        return Err(format!("raw control character {c:?} in a string"));
                    }
                    c => out.push(c),
                }
            }
        }

        fn number(&mut self) -> Result<Json, String> {
            let start = self.at;
            while matches!(self.peek(), Some('-' | '+' | '.' | 'e' | 'E' | '0'..='9')) {
                self.at += 1;
            }
            let text: String = self.chars[start..self.at].iter().collect();
            text.parse()
                .map(Json::Number)
                .map_err(|_| format!("bad number {text:?}"))
        }
    }

    /// An XML element, its attributes decoded, its text content decoded
    /// and joined.
    #[derive(Debug)]
    pub struct Element {
        pub name: String,
        pub attributes: Vec<(String, String)>,
        pub children: Vec<Element>,
        pub text: String,
    }

    impl Element {
        pub fn attribute(&self, name: &str) -> &str {
            self.attributes
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .unwrap_or_else(|| panic!("<{}> has no attribute {name:?}", self.name))
        }

        pub fn children_named<'a>(
            &'a self,
            name: &'a str,
        ) -> impl Iterator<Item = &'a Element> + 'a {
            self.children.iter().filter(move |child| child.name == name)
        }
    }

    /// Parses a whole XML document (an optional declaration, one root
    /// element; no comments, CDATA or DTD, which the reports never write),
    /// insisting that it is well-formed.
    pub fn xml(text: &str) -> Result<Element, String> {
        let mut rest = text;
        if let Some(after) = rest.strip_prefix("<?xml") {
            let end = after.find("?>").ok_or("an unclosed declaration")?;
            rest = &after[end + 2..];
        }
        let (root, rest) = element(rest.trim_start())?;
        if !rest.trim().is_empty() {
            return Err(format!(
                "content after the root element: {:?}",
                &rest[..rest.len().min(20)]
            ));
        }
        Ok(root)
    }

    fn is_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || "_:.-".contains(c))
    }

    /// Decodes character data, refusing a raw `<`, a stray `&` and
    /// characters XML cannot hold.
    fn decode(raw: &str, in_attribute: bool) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = raw;
        while let Some(c) = rest.chars().next() {
            if c == '&' {
                let end = rest.find(';').ok_or("a `&` that starts no reference")?;
                let name = &rest[1..end];
                let decoded = match name {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => {
                        let code = if let Some(hex) = name.strip_prefix("#x") {
                            u32::from_str_radix(hex, 16)
                        } else if let Some(decimal) = name.strip_prefix('#') {
                            decimal.parse()
                        } else {
                            return Err(format!("unknown entity &{name};"));
                        };
                        code.ok()
                            .and_then(char::from_u32)
                            .ok_or(format!("bad reference &{name};"))?
                    }
                };
                out.push(decoded);
                rest = &rest[end + 1..];
                continue;
            }
            let allowed = matches!(c, '\t' | '\n' | '\r')
                || matches!(u32::from(c), 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
            if c == '<' || (in_attribute && c == '"') || !allowed {
                return Err(format!("{c:?} cannot be in character data"));
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        Ok(out)
    }

    /// One element, from its `<` on; returns it and what follows it.
    fn element(text: &str) -> Result<(Element, &str), String> {
        let rest = text.strip_prefix('<').ok_or("expected an element")?;
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .ok_or("an unclosed tag")?;
        let name = &rest[..name_end];
        if !is_name(name) {
            return Err(format!("bad element name {name:?}"));
        }
        let mut rest = &rest[name_end..];
        let mut attributes = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix("/>") {
                let element = Element {
                    name: name.to_string(),
                    attributes,
                    children: Vec::new(),
                    text: String::new(),
                };
                return Ok((element, after));
            }
            if let Some(after) = rest.strip_prefix('>') {
                rest = after;
                break;
            }
            let equals = rest.find('=').ok_or("an attribute without a value")?;
            let key = rest[..equals].trim();
            if !is_name(key) || attributes.iter().any(|(known, _)| known == key) {
                return Err(format!("bad or repeated attribute {key:?}"));
            }
            let value = rest[equals + 1..]
                .trim_start()
                .strip_prefix('"')
                .ok_or("an unquoted attribute")?;
            let end = value.find('"').ok_or("an unclosed attribute")?;
            attributes.push((key.to_string(), decode(&value[..end], true)?));
            rest = &value[end + 1..];
        }
        let mut children = Vec::new();
        let mut content = String::new();
        loop {
            let next = rest.find('<').ok_or(format!("<{name}> is never closed"))?;
            content.push_str(&decode(&rest[..next], false)?);
            rest = &rest[next..];
            if let Some(after) = rest.strip_prefix("</") {
                let end = after.find('>').ok_or("an unclosed end tag")?;
                if after[..end].trim() != name {
                    return Err(format!("<{name}> closed by </{}>", &after[..end]));
                }
                let element = Element {
                    name: name.to_string(),
                    attributes,
                    children,
                    text: content,
                };
                return Ok((element, &after[end + 1..]));
            }
            let (child, after) = element(rest)?;
            children.push(child);
            rest = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse::{Json, json, xml};
    use super::*;

    #[test]
    fn json_strings_escape_what_json_cannot_hold_raw() {
        let awkward = "a \"quote\", a \\ and\na line, a\ttab, an \u{1b}[31m escape, é";
        let written = json_string(awkward);
        assert!(
            !written.contains('\n') && !written.contains('\u{1b}'),
            "{written}"
        );
        assert_eq!(json(&written), Ok(Json::String(awkward.to_string())));
    }

    #[test]
    fn xml_escapes_markup_and_drops_what_xml_cannot_hold() {
        let awkward = "<b>&amp;</b> \"quoted\" 'single'\nline \u{1b}[0m";
        let document = format!("<r a={}>{}</r>", xml_attribute(awkward), xml_text(awkward));
        let root = xml(&document).unwrap_or_else(|error| panic!("{error}: {document}"));
        let shown = awkward.replace('\u{1b}', "\\u{1b}");
        assert_eq!(root.attribute("a"), shown);
        assert_eq!(root.text, shown);
    }

    #[test]
    fn the_parsers_reject_what_is_not_well_formed() {
        for bad in [
            "{\"a\": 1,}",
            "[1 2]",
            "\"raw\nline\"",
            "{\"a\": tru}",
            "{} {}",
        ] {
            assert!(json(bad).is_err(), "{bad}");
        }
        for bad in [
            "<a><b></a></b>",
            "<a>x & y</a>",
            "<a>1 < 2</a>",
            "<a b=\"1\" b=\"2\"/>",
            "<a></a><a></a>",
            "<a>\u{1b}</a>",
        ] {
            assert!(xml(bad).is_err(), "{bad}");
        }
    }
}
