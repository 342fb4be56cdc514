//! A stand-alone feature server for a project: `serve PROJECT_DIR STORE PORT [NAMESPACE]`, where
//! STORE is a redb file (e.g. `PROJECT_DIR/.mlsys/online.redb`, what `mlsysc build` writes) or a
//! `redis://` URL. Used by `benches/http.sh`; stops on ctrl-c or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlsys_compiler::source::SourceFile;
use mlsys_serve::FeatureServer;

fn mlsys_files(directory: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "data" {
                mlsys_files(&path, found)?;
            }
        } else if path.extension().is_some_and(|extension| extension == "mlsys") {
            found.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [project, store, port, rest @ ..] = arguments.as_slice() else {
        return Err("usage: serve PROJECT_DIR STORE PORT [NAMESPACE]".into());
    };
    let namespace = rest.first().map_or(mlsys_online::DEFAULT_NAMESPACE, String::as_str);
    let mut paths = Vec::new();
    mlsys_files(Path::new(project), &mut paths)?;
    paths.sort();
    let files = paths
        .iter()
        .map(|path| {
            Ok(SourceFile::new(
                path.display().to_string(),
                std::fs::read_to_string(path)?,
            ))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let compilation = mlsys_compiler::compile(&files);
    let Some(plan) = compilation.plan else {
        for diagnostic in &compilation.diagnostics {
            eprintln!("{diagnostic:?}");
        }
        return Err(format!("{project} does not compile").into());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = mlsys_online::open_store(&store.as_str().into(), namespace).await?;
        let server = Arc::new(FeatureServer::new(Arc::new(plan), store)?);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
        eprintln!("serving {project} on http://{}", listener.local_addr()?);
        mlsys_serve::serve(listener, server, mlsys_serve::ListenerConfig::default()).await?;
        Ok(())
    })
}
