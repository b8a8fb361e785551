//! A real browser for the end-to-end test of the pages: Debian's Chromium, headless, driven
//! through chromedriver (WebDriver) by fantoccini. Each session has a fresh profile and may only
//! resolve 127.0.0.1; every step can leave a PNG under `target/screenshots/`.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use local_stack::process::Supervised;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page may take to show what a step waits for (the first call to a function
/// may still compile under `cargo lambda watch`).
const PATIENCE: Duration = Duration::from_secs(45);

/// One chromedriver, on a free loopback port, stopped with its browsers on drop.
pub struct Driver {
    child: Option<Supervised>,
    pub url: String,
    pub screenshots: PathBuf,
    workdir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Drop for Driver {
    /// Stops chromedriver and its browsers, then removes the run's profiles and downloads
    /// (kept after a failure, with chromedriver's log, to look at).
    fn drop(&mut self) {
        drop(self.child.take());
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

impl Driver {
    pub async fn start(name: &str) -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: `make test` installs Debian's chromium and chromium-driver"
            );
        }
        let root = local_stack::root();
        let workdir = root.join("target/e2e").join(format!("browser-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&workdir);
        std::fs::create_dir_all(&workdir).expect("browser workdir");
        let screenshots = root.join("target/screenshots");
        let _ = std::fs::remove_dir_all(&screenshots);
        std::fs::create_dir_all(&screenshots).expect("screenshots dir");
        let port = free_port();
        // Under the local stack's guardian: chromedriver and every Chromium it starts are one
        // session, ended together when the driver is dropped, also after a failed test, or
        // when this process dies (SIGKILL to chromedriver alone would orphan its browsers).
        let mut cmd = local_stack::process::guarded(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", workdir.join("chromedriver.log").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = Supervised::spawn("chromedriver", cmd).expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child: Some(child), url, screenshots, workdir }
    }

    /// A file for the browser to upload, in the run's own folder.
    pub fn workdir_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.workdir.join(name);
        std::fs::write(&path, bytes).expect("write the file to upload");
        path
    }

    /// A new browser: its own Chromium process and empty profile, downloads into its folder,
    /// and the clipboard allowed to the pages' `origin` (so a test can read what was copied).
    pub async fn session(&self, who: &str, origin: &str) -> Browser {
        let profile = self.workdir.join(format!("profile-{who}"));
        let downloads = self.workdir.join(format!("downloads-{who}"));
        std::fs::create_dir_all(&downloads).expect("downloads dir");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,1000".into(),
            // Names resolve to nothing: the browser can only reach 127.0.0.1.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "profile.content_settings.exceptions.clipboard": {
                        format!("{origin},*"): { "setting": 1 },
                    },
                },
            },
        });
        let Value::Object(caps) = caps else { unreachable!("an object literal") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session");
        Browser { client, downloads, screenshots: self.screenshots.clone(), reloaded: Default::default() }
    }
}

pub struct Browser {
    pub client: Client,
    pub downloads: PathBuf,
    screenshots: PathBuf,
    /// Pages reloaded because the local emulator dropped one of their files (once per page).
    reloaded: std::sync::Mutex<Vec<String>>,
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Saves the page as `target/screenshots/{name}.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// What a failed step leaves behind: a screenshot, and the address and text of the page.
    async fn post_mortem(&self) -> String {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.screenshots.join("failure.png"), png);
        }
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let body = self.text("body").await;
        // What the page fetched, and how each answer went (Resource Timing).
        let fetched = self
            .client
            .execute(
                "return performance.getEntriesByType('resource').map((r) => \
                 `${r.initiatorType} ${r.name} status=${r.responseStatus} ${Math.round(r.duration)}ms`)",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        format!("see target/screenshots/failure.png; the page at {url} fetched {fetched:#} and says:\n{body}")
    }

    /// A tenth of a second between looks; after the first second of waiting, a look at whether
    /// the emulator dropped one of the page's files.
    async fn pause_and_check(&self, started: Instant) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(1) && started.elapsed().subsec_millis() < 100 {
            self.reload_if_the_emulator_dropped_a_file().await;
        }
    }

    /// Scrolls `css` to the middle of the window, then saves the screenshot.
    pub async fn shot_at(&self, name: &str, css: &str) {
        let el = self.find(css).await;
        let arg = serde_json::to_value(&el).expect("element reference");
        self.client
            .execute("arguments[0].scrollIntoView({block: 'center'})", vec![arg])
            .await
            .expect("scroll");
        self.shot(name).await;
    }

    /// `cargo lambda watch` 1.9.2 answers about one in a thousand concurrent requests to one
    /// function with its own 500 before the function sees it, or after: its Runtime API refuses
    /// the function's answer (reproduced with curl: 3 of 1,800 parallel GETs of the same
    /// module; its log then says "Lambda Runtime API returned non-200 response" or shows a 500
    /// for a request `portal-web` logged as served 200). `portal-web` never answers 500 for a
    /// page or its files, and the emulator's own 500 is its problem JSON
    /// (`https://httpstatuses.com/500`), so a page, or a page whose module, came back so was hit
    /// by the emulator, not by the code under test: it is loaded again, once per page, and said
    /// so. Anything else still fails the test.
    async fn reload_if_the_emulator_dropped_a_file(&self) {
        let dropped = self
            .client
            .execute(
                "const page = performance.getEntriesByType('navigation')[0]; \
                 const emulator = document.body && document.body.innerText.includes('httpstatuses.com/500'); \
                 const own = page && page.responseStatus >= 500 && emulator ? [location.href] : []; \
                 return own.concat(performance.getEntriesByType('resource') \
                 .filter((r) => r.name.includes('/portal/assets/') && r.responseStatus >= 500) \
                 .map((r) => r.name))",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        let Some(first) = dropped.as_array().and_then(|a| a.first()) else { return };
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        {
            let mut reloaded = self.reloaded.lock().unwrap_or_else(|e| e.into_inner());
            if reloaded.contains(&url) {
                return;
            }
            reloaded.push(url.clone());
        }
        println!("    (the emulator answered 500 for {first}; reloading {url} once)");
        let _ = self.client.refresh().await;
    }

    /// Looks every tenth of a second until `probe` finds what a step waits for; after
    /// `PATIENCE`, fails with `what` and what the page shows.
    async fn until<T>(&self, what: impl Fn() -> String, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            if started.elapsed() > PATIENCE {
                panic!("{}; {}", what(), self.post_mortem().await);
            }
            self.pause_and_check(started).await;
        }
    }

    /// The element, once it is on the page and shown.
    pub async fn find(&self, css: &str) -> Element {
        self.until(
            || format!("{css} did not show up"),
            async || {
                let e = self.client.find(Locator::Css(css)).await.ok()?;
                e.is_displayed().await.unwrap_or(false).then_some(e)
            },
        )
        .await
    }

    /// Waits until no element matching `css` is shown.
    pub async fn wait_hidden(&self, css: &str) {
        self.until(
            || format!("{css} is still shown"),
            async || {
                for e in self.all(css).await {
                    if e.is_displayed().await.unwrap_or(false) {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        self.until(
            || format!("{css} never said {needle:?}"),
            async || Some(self.text(css).await).filter(|t| t.contains(needle)),
        )
        .await
    }

    /// Waits until the element's text no longer contains `needle`; returns the text.
    pub async fn wait_text_gone(&self, css: &str, needle: &str) -> String {
        self.until(
            || format!("{css} still says {needle:?}"),
            async || Some(self.text(css).await).filter(|t| !t.contains(needle)),
        )
        .await
    }

    /// Waits until the address is on `path`.
    pub async fn wait_path(&self, path: &str) {
        self.until(
            || format!("never reached {path}"),
            async || self.client.current_url().await.ok().filter(|u| u.path() == path).map(|_| ()),
        )
        .await
    }

    /// Every element matching `css` (shown or not).
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap_or_default()
    }

    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Clicks `css` once it is shown. A list re-rendered between finding and clicking (a stale
    /// element) is found again.
    pub async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(e) if started.elapsed() > PATIENCE => panic!("click {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Replaces a field's value by typing, as a person would.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    pub async fn value(&self, css: &str) -> String {
        self.find(css).await.prop("value").await.ok().flatten().unwrap_or_default()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// When the page is wider than the window (it scrolls sideways), the elements reaching
    /// past its right edge; empty when it fits. Wide tables scroll inside their own box.
    pub async fn too_wide(&self) -> Vec<String> {
        let found = self
            .js("const w = document.documentElement.clientWidth; \
                 const sw = document.documentElement.scrollWidth; \
                 if (sw <= w) return []; \
                 const out = [...document.querySelectorAll('body *')] \
                   .filter((e) => e.getBoundingClientRect().right > w + 1) \
                   .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} right=${Math.round(e.getBoundingClientRect().right)} of ${w}`); \
                 return out.length ? out : [`the page is ${sw} px wide in a ${w} px window`]")
            .await;
        found
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default()
    }

    /// What the clipboard holds (the page's origin may read it in these sessions).
    pub async fn clipboard(&self) -> String {
        let read = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 navigator.clipboard.readText().then(done, (e) => done(`unreadable: ${e}`))",
                vec![],
            )
            .await
            .expect("read the clipboard");
        read.as_str().unwrap_or_default().to_string()
    }

    /// A file that appeared in this browser's download folder.
    pub async fn downloaded(&self) -> Vec<u8> {
        let started = Instant::now();
        loop {
            let done: Vec<PathBuf> = std::fs::read_dir(&self.downloads)
                .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| !p.to_string_lossy().ends_with(".crdownload"))
                .collect();
            if let Some(p) = done.first() {
                return std::fs::read(p).expect("read download");
            }
            assert!(started.elapsed() < PATIENCE, "nothing was downloaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
