//! Headless Chromium opens each sample page: the screenshot must not be blank and the browser
//! must log no console message (a script error, or a blocked resource or script: the page's
//! content security policy reports those on the console).
//!
//! Needs the Debian `chromium` package (scripts/test installs it). Without it these tests fail,
//! unless `MLSYS_SKIP_BROWSER_TESTS=1` says to skip them.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlsys_monitor::report::render;

use super::render::{all_samples, assert_self_contained};
use super::samples::{empty, fraud};

const SKIP_VARIABLE: &str = "MLSYS_SKIP_BROWSER_TESTS";
const CHROMIUM: &str = "chromium";
const TIMEOUT: Duration = Duration::from_secs(120);
const WINDOW: (u32, u32) = (1280, 2400);

/// A directory of its own for one test, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("mlsys-monitor-report-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch directory");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the browser made of a page: its console messages and the screenshot's pixels.
struct Drawn {
    console: Vec<String>,
    pixels: Vec<[u8; 3]>,
}

impl Drawn {
    /// The share of pixels not of the most common colour (the background), and how many
    /// colours there are.
    fn ink(&self) -> (f64, usize) {
        let mut colours: HashMap<[u8; 3], usize> = HashMap::new();
        for pixel in &self.pixels {
            *colours.entry(*pixel).or_default() += 1;
        }
        let background = colours.values().copied().max().unwrap_or(0);
        let share = 1.0 - background as f64 / self.pixels.len().max(1) as f64;
        (share, colours.len())
    }

    fn has_colour(&self, colour: [u8; 3], at_least: usize) -> bool {
        self.pixels.iter().filter(|pixel| **pixel == colour).count() >= at_least
    }
}

/// Whether the browser tests run: Chromium is there, or skipping was asked for by name.
fn browser_available() -> bool {
    if std::env::var(SKIP_VARIABLE).is_ok_and(|value| value == "1") {
        eprintln!("{SKIP_VARIABLE}=1: browser tests skipped");
        return false;
    }
    let found = Command::new(CHROMIUM)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        found.is_ok_and(|status| status.success()),
        "`{CHROMIUM}` is not installed: run scripts/test (it installs the Debian package), \
         or set {SKIP_VARIABLE}=1 to skip the browser tests"
    );
    true
}

/// Opens `html` in headless Chromium and takes a screenshot of the window.
fn draw(scratch: &Path, name: &str, html: &str) -> Drawn {
    let page = scratch.join(format!("{name}.html"));
    std::fs::write(&page, html).expect("write page");
    let screenshot = scratch.join(format!("{name}.png"));
    let log = scratch.join(format!("{name}.log"));
    run_chromium(scratch, &page, &screenshot, &log);
    let log = std::fs::read_to_string(&log).expect("read the browser's log");
    let console = log
        .lines()
        .filter(|line| line.contains(":CONSOLE") || line.contains("Uncaught"))
        .map(String::from)
        .collect();
    Drawn {
        console,
        pixels: decode(&screenshot),
    }
}

fn run_chromium(scratch: &Path, page: &Path, screenshot: &Path, log: &Path) {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", scratch.join("profile").display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("create log"))
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {} within {TIMEOUT:?}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed ({status}) on {}:\n{tail}",
        page.display()
    );
}

/// The screenshot's pixels as RGB.
fn decode(path: &Path) -> Vec<[u8; 3]> {
    let file = File::open(path).unwrap_or_else(|error| panic!("no screenshot {}: {error}", path.display()));
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("read PNG header");
    let mut buffer = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut buffer).expect("decode PNG");
    assert_eq!((info.width, info.height), WINDOW, "screenshot size");
    let samples = info.color_type.samples();
    assert!(samples >= 3, "screenshot in {:?}", info.color_type);
    buffer[..info.buffer_size()]
        .chunks_exact(samples)
        .map(|pixel| [pixel[0], pixel[1], pixel[2]])
        .collect()
}

#[test]
fn chromium_draws_every_sample_without_console_messages() {
    if !browser_available() {
        return;
    }
    let scratch = Scratch::new("samples");
    for (name, report) in all_samples() {
        let html = render(&report);
        assert_self_contained(name, &html);
        let drawn = draw(&scratch.0, name, &html);
        assert!(
            drawn.console.is_empty(),
            "{name}: console messages:\n{}",
            drawn.console.join("\n")
        );
        let (share, colours) = drawn.ink();
        // The empty report is a header and a few lines of text.
        assert!(
            share > 0.001 && colours >= 16,
            "{name}: blank page ({share:.4} ink, {colours} colours)"
        );
    }
}

#[test]
fn chromium_shows_the_fraud_report_in_its_colours() {
    if !browser_available() {
        return;
    }
    let scratch = Scratch::new("colours");
    let drawn = draw(&scratch.0, "fraud", &render(&fraud()));
    let (share, colours) = drawn.ink();
    assert!(share > 0.05 && colours > 100, "{share:.4} ink, {colours} colours");
    // Solid fills from the stylesheet: the red of DRIFTING and BELOW THRESHOLD badges, the
    // grey-blue and orange of the baseline and current bars.
    for (what, colour) in [
        ("red badge", [0xdc, 0x26, 0x26]),
        ("baseline bars", [0x94, 0xa3, 0xb8]),
        ("current bars", [0xf9, 0x73, 0x16]),
    ] {
        assert!(drawn.has_colour(colour, 200), "no {what} on the screenshot");
    }
}

/// The checks above would notice: a blank page is blank, a script error reaches the console.
#[test]
fn the_browser_checks_catch_a_blank_page_and_a_console_error() {
    if !browser_available() {
        return;
    }
    let scratch = Scratch::new("controls");
    let blank = draw(&scratch.0, "blank", "<!DOCTYPE html><html><body></body></html>");
    let (share, _) = blank.ink();
    assert!(share < 0.001, "a blank page has {share:.4} ink");
    let failing = "<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>";
    let drawn = draw(&scratch.0, "failing", failing);
    assert!(
        drawn.console.iter().any(|line| line.contains("Uncaught")),
        "console: {:?}",
        drawn.console
    );
    // A script that got into a report page is refused by its policy, on the console.
    let injected = render(&empty()).replace("</main>", "<script>document.title = 'ran';</script></main>");
    let drawn = draw(&scratch.0, "injected", &injected);
    assert!(
        drawn
            .console
            .iter()
            .any(|line| line.contains("Content Security Policy")),
        "console: {:?}",
        drawn.console
    );
}
