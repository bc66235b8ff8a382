//! The sweep report as Markdown: plots as links to their PNGs.

use super::PLOTS_DIR;
use super::document::Block;
use std::fmt::Write as _;

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn render_md(blocks: &[Block]) -> String {
    let mut s = String::new();
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(s, "{} {t}\n", "#".repeat(*l as usize));
            }
            Block::Para(t) => {
                let _ = writeln!(s, "{t}\n");
            }
            Block::Code(t) => {
                let _ = writeln!(s, "```toml\n{}\n```\n", t.trim_end());
            }
            Block::Table(h, rows) => {
                let _ = writeln!(
                    s,
                    "| {} |",
                    h.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                );
                let _ = writeln!(s, "|{}", "---|".repeat(h.len()));
                for r in rows {
                    let _ = writeln!(
                        s,
                        "| {} |",
                        r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
                s.push('\n');
            }
            Block::Image(stem, alt) => {
                let _ = writeln!(s, "![{alt}]({PLOTS_DIR}/{stem}.png)\n");
            }
        }
    }
    s
}
