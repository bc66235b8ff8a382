//! The sweep report as one self-contained HTML page: plots inlined as SVG, Markdown rendered, and
//! hovering a point (or a bar) shows its run, configuration and values. Inline script and styles
//! only: the page loads nothing.

use super::document::Block;
use super::{PLOTS_DIR, PlotInfo};
use crate::error::{Error, Result};
use crate::report::markdown::{esc, inline, to_html};
use crate::report::plot::Hotspot;
use std::fmt::Write as _;
use std::path::Path;

const STYLE: &str = "body { font-family: sans-serif; max-width: 1250px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
circle.hot, rect.hot { fill: transparent; stroke: none; pointer-events: all; cursor: crosshair; }
circle.hot:hover, rect.hot:hover { stroke: #000; stroke-width: 2; }
#tip { position: fixed; display: none; z-index: 10; pointer-events: none; white-space: pre-line;
  background: #fffff0; border: 1px solid #555; padding: 0.4em 0.6em; font-size: 0.85em; max-width: 40em;
  box-shadow: 2px 2px 6px rgba(0,0,0,0.25); }";

/// Shows a hot element's `data-tip` beside the pointer while it is over it.
const SCRIPT: &str = "(function () {
  var tip = document.getElementById('tip');
  function place(e) { tip.style.left = (e.clientX + 14) + 'px'; tip.style.top = (e.clientY + 14) + 'px'; }
  document.querySelectorAll('[data-tip]').forEach(function (el) {
    el.addEventListener('mouseenter', function (e) { tip.textContent = el.getAttribute('data-tip'); tip.style.display = 'block'; place(e); });
    el.addEventListener('mousemove', place);
    el.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
})();";

pub(super) fn render_html(blocks: &[Block], title: &str, dir: &Path, plots: &[PlotInfo]) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<div id=\"tip\" role=\"tooltip\"></div>",
        esc(title)
    );
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(s, "<h{l}>{}</h{l}>", inline(t));
            }
            Block::Para(t) => s.push_str(&to_html(t)),
            Block::Code(t) => {
                let _ = writeln!(s, "<pre><code>{}</code></pre>", esc(t.trim_end()));
            }
            Block::Table(h, rows) => {
                s.push_str("<table>\n<tr>");
                for c in h {
                    let _ = write!(s, "<th>{}</th>", inline(c));
                }
                s.push_str("</tr>\n");
                for r in rows {
                    s.push_str("<tr>");
                    for c in r {
                        let _ = write!(s, "<td>{}</td>", inline(c));
                    }
                    s.push_str("</tr>\n");
                }
                s.push_str("</table>\n");
            }
            Block::Image(stem, alt) => {
                let hot = plots
                    .iter()
                    .find(|p| &p.stem == stem)
                    .map_or(&[][..], |p| &p.hotspots[..]);
                figure(&mut s, dir, stem, alt, hot)?;
            }
        }
    }
    let _ = writeln!(s, "<script>\n{SCRIPT}\n</script>\n</body>\n</html>");
    Ok(s)
}

/// A plot's SVG inline, with a transparent hover target over each of its hotspots.
fn figure(s: &mut String, dir: &Path, stem: &str, alt: &str, hot: &[Hotspot]) -> Result<()> {
    let p = dir.join(PLOTS_DIR).join(format!("{stem}.svg"));
    let svg = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    let body = match svg.find("<svg") {
        Some(at) => &svg[at..],
        None => svg.as_str(),
    };
    let body = body.trim_end();
    let (head, tail) = match body.rfind("</svg>") {
        Some(at) => body.split_at(at),
        None => (body, ""),
    };
    let _ = writeln!(s, "<figure aria-label=\"{}\" data-plot=\"{}\">", esc(alt), esc(stem));
    s.push_str(head);
    if !hot.is_empty() {
        s.push_str("<g class=\"hotspots\">\n");
        for h in hot {
            let _ = writeln!(
                s,
                "<circle class=\"hot\" cx=\"{}\" cy=\"{}\" r=\"9\" data-tip=\"{}\"/>",
                h.x,
                h.y,
                esc(&h.tip).replace('\n', "&#10;")
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str(tail);
    s.push_str("\n</figure>\n");
    Ok(())
}
