//! The interactive sweep report in a real headless browser: Debian's chromium loads `report.html`
//! from disk (nothing from the network), the test moves the mouse over a point of the latency
//! plot through the DevTools protocol (over `--remote-debugging-pipe`: file descriptors 3 and 4,
//! NUL-separated JSON), reads the tooltip, and saves a screenshot beside the report.
//!
//! Without a browser the test says so and passes, except under CI (`CODESIM_CI` set, as `.ci/run`
//! sets it), where a missing browser fails it.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_codesim");
const WAIT: Duration = Duration::from_secs(20);

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("codesim-browser-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CODESIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Two pipes, close-on-exec: (read, write) each.
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2 failed");
    (fds[0], fds[1])
}

/// A browser driven over the DevTools pipe.
struct Browser {
    child: Child,
    to: std::fs::File,
    from: Receiver<Value>,
    next_id: u64,
    _profile: PathBuf,
}

impl Browser {
    fn launch(exe: &Path, profile: PathBuf) -> Browser {
        let (cmd_read, cmd_write) = pipe();
        let (out_read, out_write) = pipe();
        let mut c = Command::new(exe);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                // Move both ends above 4 first, so neither is overwritten by the other's dup2.
                let a = libc::fcntl(cmd_read, libc::F_DUPFD, 10);
                let b = libc::fcntl(out_write, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c.spawn().expect("chromium starts");
        // SAFETY: each fd is ours, open, and owned by exactly one File from here on.
        let (to, mut from, _r, _w) = unsafe {
            (
                std::fs::File::from_raw_fd(cmd_write),
                std::fs::File::from_raw_fd(out_read),
                std::fs::File::from_raw_fd(cmd_read),
                std::fs::File::from_raw_fd(out_write),
            )
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Browser {
            child,
            to,
            from: rx,
            next_id: 0,
            _profile: profile,
        }
    }

    /// Sends a command (to a page session when given) and waits for its answer.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to the browser");
        loop {
            let v = self
                .from
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no answer to {method} within {WAIT:?}"));
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression in the page; its value.
    fn eval(&mut self, session: &str, expr: &str) -> Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| u32::from(val(c))).collect();
        let n = v
            .iter()
            .enumerate()
            .fold(0u32, |acc, (k, &x)| acc | (x << (18 - 6 * k)));
        for k in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * k)) as u8);
        }
    }
    out
}

/// A small sweep with an overloaded rate: two configurations by three rates.
fn sweep_file(dir: &Path) -> PathBuf {
    let text = r#"name = "hover"
zip = [["hardware.instance", "deployment.tp"]]
[axes]
"hardware.instance" = ["p5.48xlarge", "p4de.24xlarge"]
"deployment.tp" = [1, 2]
"workload.arrival.rate_per_s" = [5, 40, 400]
[[slo]]
tpot_ms = 20.0
[plot]
group_by = ["hardware.instance", "deployment.tp"]
[base]
seed = 3
[base.model]
name = "llama-3-8b"
[base.workload]
requests = 300
arrival = { kind = "poisson", rate_per_s = 1.0 }
input = { kind = "lognormal", mean = 300.0, cv = 1.0, max = 2000 }
output = { kind = "lognormal", mean = 60.0, cv = 1.0, max = 400 }
"#;
    let p = dir.join("sweep-hover.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn hovering_a_point_shows_its_run_configuration_and_values() {
    let Some(exe) = find_chromium() else {
        assert!(
            std::env::var_os("CODESIM_CI").is_none(),
            "CI must have chromium (apt-get install -y chromium) for the interactive report's test"
        );
        eprintln!("skipped: no chromium (/usr/bin/chromium); set CODESIM_CHROMIUM to one");
        return;
    };
    let d = temp_dir("hover");
    let out = d.join("out");
    let o = Command::new(BIN)
        .args([
            "sweep",
            sweep_file(&d).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for loads in ["<link", "src=", "url(", "@import", "fetch(", "XMLHttpRequest"] {
        assert!(!html.contains(loads), "the report loads nothing, yet has {loads}");
    }
    assert!(html.contains("r0005 ⚠"), "the overloaded run is marked");

    let mut b = Browser::launch(&exe, d.join("profile"));
    let target = b.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
    );
    let s = attached["sessionId"].as_str().unwrap().to_string();
    let s = s.as_str();
    b.call(Some(s), "Page.enable", json!({}));
    let url = format!("file://{}", out.join("report.html").display());
    b.call(Some(s), "Page.navigate", json!({ "url": url }));
    let ready = "new Promise(r => { const f = () => document.readyState === 'complete' && document.querySelector('#tip') ? r(true) : setTimeout(f, 50); f(); })";
    assert_eq!(b.eval(s, ready), json!(true));

    // The first point of the TTFT latency plot, scrolled to the middle of the window.
    let spot = b.eval(
        s,
        "(() => { const c = document.querySelector('figure[data-plot=\"latency-ttft\"] circle.hot'); c.scrollIntoView({block: 'center'}); const r = c.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, c.getAttribute('data-tip')]; })()",
    );
    let (x, y) = (spot[0].as_f64().unwrap(), spot[1].as_f64().unwrap());
    let expected = spot[2].as_str().unwrap().to_string();
    assert_eq!(
        b.eval(s, "getComputedStyle(document.getElementById('tip')).display"),
        json!("none")
    );
    for (kind, dx) in [("mouseMoved", -30.0), ("mouseMoved", 0.0)] {
        b.call(
            Some(s),
            "Input.dispatchMouseEvent",
            json!({ "type": kind, "x": x + dx, "y": y }),
        );
    }
    let tip = b.eval(
        s,
        "(() => { const t = document.getElementById('tip'); return [getComputedStyle(t).display, t.innerText]; })()",
    );
    assert_eq!(tip[0], json!("block"), "the tooltip shows on hover: {tip}");
    let text = tip[1].as_str().unwrap();
    assert_eq!(text.replace('\n', ""), expected.replace('\n', ""));
    assert!(text.contains("run r0000") && text.contains("p5.48xlarge, 1"), "{text}");
    assert!(text.contains("rate (req/s): 5") && text.contains("TTFT p50"), "{text}");

    let shot = b.call(Some(s), "Page.captureScreenshot", json!({ "format": "png" }));
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
    let path = out.join("hover.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());

    // Moving away hides it again.
    b.call(
        Some(s),
        "Input.dispatchMouseEvent",
        json!({ "type": "mouseMoved", "x": 5.0, "y": 5.0 }),
    );
    assert_eq!(
        b.eval(s, "getComputedStyle(document.getElementById('tip')).display"),
        json!("none")
    );
}
