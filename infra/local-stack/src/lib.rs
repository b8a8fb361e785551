//! The local stack, as a library the `local-stack` tool and the tests share: moto on a free
//! loopback port, the AWS resources from one definition, `cargo lambda watch` serving every
//! function, and signed Stripe-format events.

pub mod bridge;
pub mod demo;
pub mod moto;
pub mod process;
pub mod resources;
pub mod stripe_events;
pub mod watch;

use std::path::PathBuf;

/// The workspace root (where `.venv` and `Cargo.toml` live).
pub fn root() -> PathBuf {
    match std::env::var_os("SEATS_ROOT") {
        Some(r) => PathBuf::from(r),
        None => {
            let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
            p.canonicalize().unwrap_or(p)
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// 32 random bytes as hex, for local secrets.
pub fn random_hex() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
