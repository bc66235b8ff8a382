//! Markdown to HTML for the subset the reports write: headings, paragraphs, bullet and numbered
//! lists, pipe tables, fenced code, and inline `code`, **bold**, *italic* and [links](url).
//!
//! Everything else is text: every character is escaped, so a report can never inject markup, and
//! `_` is never emphasis (key paths such as `max_batch` are full of them). No network, no
//! external JS or CSS: the output is plain HTML elements.

use std::fmt::Write as _;

/// Escapes text for HTML (element content and double-quoted attributes).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Stands in for the code span of this index while emphasis is parsed (a private-use character,
/// which the text itself never holds: any it does hold is dropped).
const CODE_MARK: char = '\u{E000}';

/// Inline Markdown as HTML: code spans first (their content is literal), then bold, italic and
/// links around them.
pub fn inline(s: &str) -> String {
    let clean: String = s.chars().filter(|&c| c != CODE_MARK).collect();
    let mut spans = Vec::new();
    let mut text = String::new();
    let mut rest = clean.as_str();
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else { break };
        text.push_str(&rest[..open]);
        text.push(CODE_MARK);
        spans.push(format!("<code>{}</code>", esc(&rest[open + 1..open + 1 + len])));
        rest = &rest[open + 2 + len..];
    }
    text.push_str(rest);
    let mut spans = spans.into_iter();
    emphasis(&text)
        .split(CODE_MARK)
        .enumerate()
        .map(|(k, part)| {
            let code = if k > 0 {
                spans.next().unwrap_or_default()
            } else {
                String::new()
            };
            code + part
        })
        .collect()
}

/// Bold, italic and links in text without code spans.
fn emphasis(s: &str) -> String {
    let s = s.replace("\\|", "|");
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some((html, next)) = strong_or_em(&chars, i).or_else(|| link(&chars, i)) {
            out.push_str(&html);
            i = next;
            continue;
        }
        out.push_str(&esc(&chars[i].to_string()));
        i += 1;
    }
    out
}

/// `**text**` or `*text*` starting at `i` (the text neither starting nor ending with a space).
fn strong_or_em(chars: &[char], i: usize) -> Option<(String, usize)> {
    if chars[i] != '*' {
        return None;
    }
    let n = if chars.get(i + 1) == Some(&'*') { 2 } else { 1 };
    let start = i + n;
    let first = *chars.get(start)?;
    if first.is_whitespace() || first == '*' {
        return None;
    }
    let mut j = start + 1;
    while j + n <= chars.len() {
        let closes = chars[j..j + n].iter().all(|&c| c == '*') && !chars[j - 1].is_whitespace();
        if closes && (n == 2 || chars.get(j + 1) != Some(&'*')) {
            let inner: String = chars[start..j].iter().collect();
            let tag = if n == 2 { "strong" } else { "em" };
            return Some((format!("<{tag}>{}</{tag}>", emphasis(&inner)), j + n));
        }
        j += 1;
    }
    None
}

/// `[text](url)` starting at `i`; the URL is a relative path or http(s), else the text stays text.
fn link(chars: &[char], i: usize) -> Option<(String, usize)> {
    if chars[i] != '[' {
        return None;
    }
    let close = i + chars[i..].iter().position(|&c| c == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = close + 1 + chars[close + 1..].iter().position(|&c| c == ')')?;
    let text: String = chars[i + 1..close].iter().collect();
    let url: String = chars[close + 2..end].iter().collect();
    let scheme_ok = !url.contains(':') || url.starts_with("https://") || url.starts_with("http://");
    if url.is_empty() || url.contains(char::is_whitespace) || !scheme_ok {
        return None;
    }
    Some((format!("<a href=\"{}\">{}</a>", esc(&url), emphasis(&text)), end + 1))
}

/// The cells of a table row `| a | b |` (escaped pipes `\|` stay in their cell).
fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').filter(|s| !s.ends_with('\\')).unwrap_or(t);
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in t.chars() {
        match c {
            '|' if !escaped => out.push(String::new()),
            _ => out.last_mut().expect("one cell").push(c),
        }
        escaped = c == '\\';
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('|') && t.contains('-') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// The item text of a list line and whether the list is numbered.
fn list_item(line: &str) -> Option<(bool, &str)> {
    if let Some(t) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some((false, t));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    (digits > 0)
        .then(|| line[digits..].strip_prefix(". "))
        .flatten()
        .map(|t| (true, t))
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    ((1..=6).contains(&level))
        .then(|| line[level..].strip_prefix(' '))
        .flatten()
        .map(|t| (level, t))
}

/// A Markdown document as HTML elements.
pub fn to_html(md: &str) -> String {
    let lines: Vec<&str> = md.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
        } else if line.trim_start().starts_with("```") {
            let end = (i + 1..lines.len()).find(|&k| lines[k].trim_start().starts_with("```"));
            let body = lines[i + 1..end.unwrap_or(lines.len())].join("\n");
            let _ = writeln!(out, "<pre><code>{}</code></pre>", esc(&body));
            i = end.map_or(lines.len(), |k| k + 1);
        } else if let Some((level, text)) = heading(line) {
            let _ = writeln!(out, "<h{level}>{}</h{level}>", inline(text));
            i += 1;
        } else if line.trim_start().starts_with('|') && lines.get(i + 1).is_some_and(|l| is_separator(l)) {
            i = table(&lines, i, &mut out);
        } else if list_item(line).is_some() {
            i = list(&lines, i, &mut out);
        } else {
            let mut para = vec![line.trim()];
            i += 1;
            while i < lines.len() && !starts_block(&lines, i) {
                para.push(lines[i].trim());
                i += 1;
            }
            let _ = writeln!(out, "<p>{}</p>", inline(&para.join(" ")));
        }
    }
    out
}

/// Whether line `i` ends a paragraph: blank, or the start of another block.
fn starts_block(lines: &[&str], i: usize) -> bool {
    let l = lines[i];
    l.trim().is_empty()
        || l.trim_start().starts_with("```")
        || heading(l).is_some()
        || list_item(l).is_some()
        || (l.trim_start().starts_with('|') && lines.get(i + 1).is_some_and(|n| is_separator(n)))
}

/// Writes the table starting at line `i` (header, separator, rows); returns the line after it.
fn table(lines: &[&str], mut i: usize, out: &mut String) -> usize {
    out.push_str("<table>\n<tr>");
    for c in cells(lines[i]) {
        let _ = write!(out, "<th>{}</th>", inline(&c));
    }
    out.push_str("</tr>\n");
    i += 2;
    while i < lines.len() && lines[i].trim_start().starts_with('|') {
        out.push_str("<tr>");
        for c in cells(lines[i]) {
            let _ = write!(out, "<td>{}</td>", inline(&c));
        }
        out.push_str("</tr>\n");
        i += 1;
    }
    out.push_str("</table>\n");
    i
}

/// Writes the list starting at line `i`; returns the line after it. An indented line continues
/// the item above it.
fn list(lines: &[&str], mut i: usize, out: &mut String) -> usize {
    let numbered = list_item(lines[i]).is_some_and(|(n, _)| n);
    let tag = if numbered { "ol" } else { "ul" };
    let _ = writeln!(out, "<{tag}>");
    let mut items: Vec<String> = Vec::new();
    while i < lines.len() {
        match list_item(lines[i]) {
            Some((n, text)) if n == numbered => items.push(text.trim().to_string()),
            None if !items.is_empty() && lines[i].starts_with("  ") && !lines[i].trim().is_empty() => {
                let last = items.last_mut().expect("an item");
                last.push(' ');
                last.push_str(lines[i].trim());
            }
            _ => break,
        }
        i += 1;
    }
    for item in items {
        let _ = writeln!(out, "<li>{}</li>", inline(&item));
    }
    let _ = writeln!(out, "</{tag}>");
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_becomes_elements_and_the_rest_is_escaped() {
        assert_eq!(inline("**p5 fp8** wins"), "<strong>p5 fp8</strong> wins");
        assert_eq!(inline("a *backlogged* run"), "a <em>backlogged</em> run");
        assert_eq!(
            inline("`max_batch` <= 2 & `a*b*c`"),
            "<code>max_batch</code> &lt;= 2 &amp; <code>a*b*c</code>"
        );
        assert_eq!(inline("**`x` y**"), "<strong><code>x</code> y</strong>");
        assert_eq!(
            inline("a\u{E000}b `c`"),
            "ab <code>c</code>",
            "a stray private-use mark is dropped"
        );
        assert_eq!(inline("2 * 3 * 4"), "2 * 3 * 4", "spaced stars are arithmetic");
        assert_eq!(inline("snake_case_name"), "snake_case_name");
        assert_eq!(inline("[plot](plots/a.png)"), "<a href=\"plots/a.png\">plot</a>");
        assert_eq!(
            inline("[x](javascript:alert(1))"),
            "[x](javascript:alert(1))",
            "only relative and http(s) links"
        );
        assert_eq!(inline("a \\| b"), "a | b");
        assert_eq!(inline("**unclosed"), "**unclosed");
        assert_eq!(inline("\"<script>\""), "&quot;&lt;script&gt;&quot;");
    }

    #[test]
    fn blocks_lists_tables_and_code() {
        let md = "# Title\n\nOne *line*\nand more.\n\n- a **b**\n- c\n  continued\n\n1. first\n2. second\n\n| run | `key` |\n|---|---:|\n| r1 \\| x | **2** |\n\n```toml\na = \"<b>\"\n```\n";
        let html = to_html(md);
        assert_eq!(
            html,
            "<h1>Title</h1>\n<p>One <em>line</em> and more.</p>\n<ul>\n<li>a <strong>b</strong></li>\n<li>c continued</li>\n</ul>\n<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n<table>\n<tr><th>run</th><th><code>key</code></th></tr>\n<tr><td>r1 | x</td><td><strong>2</strong></td></tr>\n</table>\n<pre><code>a = &quot;&lt;b&gt;&quot;</code></pre>\n"
        );
        assert!(!to_html("**bold** and `code`").contains("**"));
        assert_eq!(to_html(""), "");
        assert_eq!(to_html("```\nunclosed"), "<pre><code>unclosed</code></pre>\n");
    }
}
