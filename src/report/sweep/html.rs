//! The sweep report as one self-contained HTML page: plots inlined as SVG.

use super::PLOTS_DIR;
use super::document::Block;
use crate::error::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Inline `code` spans of Markdown, as HTML.
fn inline_html(s: &str) -> String {
    let mut out = String::new();
    for (k, part) in s.split('`').enumerate() {
        if k % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

pub(super) fn render_html(blocks: &[Block], title: &str, dir: &Path) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\nbody {{ font-family: sans-serif; max-width: 1250px; margin: 2em auto; padding: 0 1em; }}\ntable {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}\nth, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\nth {{ background: #f2f2f2; }}\npre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}\nfigure {{ margin: 1em 0; }}\nfigure svg {{ max-width: 100%; height: auto; }}\n</style>\n</head>\n<body>",
        esc(title)
    );
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(s, "<h{l}>{}</h{l}>", inline_html(t));
            }
            Block::Para(t) => {
                let _ = writeln!(s, "<p>{}</p>", inline_html(t));
            }
            Block::Code(t) => {
                let _ = writeln!(s, "<pre><code>{}</code></pre>", esc(t.trim_end()));
            }
            Block::Table(h, rows) => {
                s.push_str("<table>\n<tr>");
                for c in h {
                    let _ = write!(s, "<th>{}</th>", inline_html(c));
                }
                s.push_str("</tr>\n");
                for r in rows {
                    s.push_str("<tr>");
                    for c in r {
                        let _ = write!(s, "<td>{}</td>", inline_html(c));
                    }
                    s.push_str("</tr>\n");
                }
                s.push_str("</table>\n");
            }
            Block::Image(stem, alt) => {
                let p = dir.join(PLOTS_DIR).join(format!("{stem}.svg"));
                let svg = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                let body = match svg.find("<svg") {
                    Some(at) => &svg[at..],
                    None => svg.as_str(),
                };
                let _ = writeln!(
                    s,
                    "<figure aria-label=\"{}\">\n{}\n</figure>",
                    esc(alt),
                    body.trim_end()
                );
            }
        }
    }
    s.push_str("</body>\n</html>\n");
    Ok(s)
}
