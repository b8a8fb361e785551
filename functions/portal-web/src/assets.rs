//! The pages and their modules, compiled into the binary (no build step, nothing to upload).

use sha2::{Digest, Sha256};

/// A file the function serves.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// A strong validator: the first 16 bytes of the SHA-256 of the body, quoted.
    pub etag: String,
}

macro_rules! files {
    ($($name:literal => $ct:expr),* $(,)?) => {
        [$(($name, $ct, include_bytes!(concat!("../assets/", $name)) as &[u8])),*]
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file under `assets/`. Pages are addressed by route, modules and styles by name
/// under `/portal/assets/`.
const FILES: [(&str, &str, &[u8]); 26] = files![
    "checkout.html" => HTML,
    "test-payment.html" => HTML,
    "complete.html" => HTML,
    "portal.html" => HTML,
    "subscription.html" => HTML,
    "claim.html" => HTML,
    "benefits.html" => HTML,
    "dashboard.html" => HTML,
    "not-found.html" => HTML,
    "api.js" => JS,
    "checkout.js" => JS,
    "test-payment.js" => JS,
    "complete.js" => JS,
    "portal.js" => JS,
    "subscription.js" => JS,
    "batch.js" => JS,
    "managers.js" => JS,
    "suspension.js" => JS,
    "cancel.js" => JS,
    "invoices.js" => JS,
    "billing-notices.js" => JS,
    "claim.js" => JS,
    "benefits.js" => JS,
    "dashboard.js" => JS,
    "webhooks.js" => JS,
    "settings.js" => JS,
];

const STYLE: (&str, &str, &[u8]) = ("style.css", CSS, include_bytes!("../assets/style.css"));

pub struct Assets {
    files: Vec<Asset>,
}

impl Assets {
    pub fn embedded() -> Self {
        let files = FILES
            .iter()
            .chain(std::iter::once(&STYLE))
            .map(|&(name, content_type, body)| Asset {
                name,
                content_type,
                body,
                etag: format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16])),
            })
            .collect();
        Assets { files }
    }

    pub fn get(&self, name: &str) -> Option<&Asset> {
        self.files.iter().find(|a| a.name == name)
    }

    /// Modules and the stylesheet: what `/portal/assets/{name}` may serve (never a page).
    pub fn public(&self, name: &str) -> Option<&Asset> {
        self.get(name).filter(|a| a.content_type != HTML)
    }

    pub fn all(&self) -> &[Asset] {
        &self.files
    }
}
