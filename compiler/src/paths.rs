//! Where a path written in a spec (`location`, `onnx("PATH")`) points: inside the project
//! directory, elsewhere on the machine, in a remote store, or out of the project by `..`. Text
//! only, no file system: symlinks are resolved by the CLI at build.

/// Where a spec's path points, read from its text alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathReach {
    /// Relative, and below the project directory once `.` and `..` are applied.
    Inside,
    /// An absolute path or a `file://` URL: anywhere on the machine that builds.
    Machine,
    /// A URL of another scheme (`s3://`, `gs://`, `az://`): shared storage, not this machine.
    Remote,
    /// Relative, but `..` climbs above the project directory.
    Escapes,
}

/// Where `path` points. Both `/` and `\` separate components; `C:` starts an absolute path.
pub fn reach(path: &str) -> PathReach {
    if let Some((scheme, _)) = path.split_once("://") {
        return if scheme.eq_ignore_ascii_case("file") {
            PathReach::Machine
        } else {
            PathReach::Remote
        };
    }
    let drive = path.as_bytes().get(1) == Some(&b':') && path.as_bytes()[0].is_ascii_alphabetic();
    if path.starts_with(['/', '\\']) || drive {
        return PathReach::Machine;
    }
    let mut depth = 0_usize;
    for component in path.split(['/', '\\']) {
        match component {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return PathReach::Escapes,
            },
            _ => depth += 1,
        }
    }
    PathReach::Inside
}
