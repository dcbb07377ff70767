//! Text as XML holds it, for the JUnit report.

use std::fmt::Write as _;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_what_xml_cannot_hold() {
        let awkward = "<b>&amp;</b> \"quoted\" 'single'\nline \u{1b}[0m";
        let document = format!("<r a={}>{}</r>", xml_attribute(awkward), xml_text(awkward));
        let parsed = roxmltree::Document::parse(&document)
            .unwrap_or_else(|error| panic!("{error}: {document}"));
        let root = parsed.root_element();
        let shown = awkward.replace('\u{1b}', "\\u{1b}");
        assert_eq!(root.attribute("a"), Some(shown.as_str()));
        assert_eq!(root.text(), Some(shown.as_str()));
    }
}
