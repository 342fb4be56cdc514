//! Content-addressed model files: `<dir>/<sha256>`, written atomically (temporary file, fsync,
//! rename, directory fsync) and verified against their hash when read back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::RegistryError;
use crate::types::Artifact;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut text = String::with_capacity(64);
    for byte in digest {
        text.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        text.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    text
}

/// Writes `bytes` to `<dir>/<sha256>` atomically and returns the [`Artifact`] (its path absolute,
/// so that any process finds it whatever its working directory). An existing file with the same
/// content is reused; one whose content does not match its name (a damaged file) is replaced.
pub fn store_artifact(dir: &Path, bytes: &[u8]) -> Result<Artifact, RegistryError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dir = std::fs::canonicalize(dir).map_err(io(dir))?;
    let sha256 = sha256_hex(bytes);
    let path = dir.join(&sha256);
    let artifact = Artifact {
        path: path
            .to_str()
            .ok_or_else(|| RegistryError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the artifact path is not UTF-8"),
            })?
            .to_string(),
        sha256: sha256.clone(),
        bytes: bytes.len() as u64,
    };
    if let Ok(existing) = std::fs::read(&path)
        && sha256_hex(&existing) == sha256
    {
        return Ok(artifact);
    }
    let temporary = temporary_path(&dir, &sha256);
    let written = write_synced(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(RegistryError::Io { path, source });
    }
    sync_directory(&dir).map_err(io(&dir))?;
    Ok(artifact)
}

/// Reads an artifact's bytes and checks them against its recorded SHA-256 and size.
pub fn read_artifact(artifact: &Artifact) -> Result<Vec<u8>, RegistryError> {
    let path = PathBuf::from(&artifact.path);
    let bytes = std::fs::read(&path).map_err(|source| RegistryError::Io {
        path: path.clone(),
        source,
    })?;
    let found = sha256_hex(&bytes);
    if found != artifact.sha256 || bytes.len() as u64 != artifact.bytes {
        return Err(RegistryError::ArtifactMismatch {
            path,
            expected: artifact.sha256.clone(),
            found,
        });
    }
    Ok(bytes)
}

/// A name no other writer (thread or process) uses at the same time.
fn temporary_path(dir: &Path, sha256: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{sha256}.{}.{sequence}.tmp", std::process::id()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the rename durable (POSIX needs the directory entry synced too).
#[cfg(unix)]
fn sync_directory(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}
