//! The server's view of the files: one project per workspace root (or per directory of a file opened
//! outside every root), its `.mlsys` files on disk, the open documents that override them, and the
//! latest compilation of each project with the diagnostics the client was last sent.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use lsp_types::{Location, Position, PublishDiagnosticsParams, Range, Uri};
use mlsys_compiler::source::{FileId, SourceFile, Span};
use mlsys_compiler::{Compilation, compile};

use super::convert::{self, Encoding, LineMap};
use super::uri;

/// A document the editor has open: its text replaces the file on disk.
pub struct Document {
    pub uri: Uri,
    pub version: i32,
    pub text: String,
}

/// One compiled state of a project: `FileId(i)` is `files[i]`, at `paths[i]`.
pub struct Analysis {
    pub encoding: Encoding,
    pub paths: Vec<PathBuf>,
    pub uris: Vec<Option<Uri>>,
    pub files: Vec<SourceFile>,
    pub line_maps: Vec<LineMap>,
    pub compilation: Compilation,
}

impl Analysis {
    pub fn file_of(&self, path: &Path) -> Option<FileId> {
        let index = self.paths.iter().position(|candidate| candidate == path)?;
        Some(FileId(u32::try_from(index).ok()?))
    }

    pub fn text(&self, file: FileId) -> &str {
        self.files.get(file.0 as usize).map_or("", |file| file.text.as_str())
    }

    pub fn range(&self, span: Span) -> Option<Range> {
        let line_map = self.line_maps.get(span.file.0 as usize)?;
        Some(line_map.range(self.text(span.file), span, self.encoding))
    }

    pub fn location(&self, span: Span) -> Option<Location> {
        let uri = self.uris.get(span.file.0 as usize)?.clone()?;
        Some(Location::new(uri, self.range(span)?))
    }

    /// The byte offset of a client position in one file.
    pub fn offset(&self, file: FileId, position: Position) -> Option<usize> {
        let line_map = self.line_maps.get(file.0 as usize)?;
        Some(line_map.offset(self.text(file), position, self.encoding))
    }
}

struct Project {
    root: PathBuf,
    /// Whether files in subdirectories of `root` belong to the project.
    recursive: bool,
    /// Every `.mlsys` file found under the root, by absolute path, as last read.
    disk: HashMap<PathBuf, SourceFile>,
    analysis: Option<Analysis>,
    dirty: bool,
    /// Files whose diagnostics are sent at the next refresh even when unchanged (the document just
    /// edited: the client waits for an answer about it).
    touched: HashSet<PathBuf>,
    /// What the client was last told, per file.
    published: HashMap<PathBuf, Vec<lsp_types::Diagnostic>>,
}

impl Project {
    /// A workspace root: every `.mlsys` file below it, found as `mlsysc check` finds them.
    fn load(root: PathBuf) -> Project {
        let mut disk = HashMap::new();
        match crate::project::load(&root) {
            Ok(project) => {
                for file in project.files {
                    disk.insert(root.join(&file.name), file);
                }
            }
            // An empty directory is a project whose files are all still to be opened.
            Err(error) => eprintln!("mlsys lsp: {error:#}"),
        }
        Project::new(root, true, disk)
    }

    /// The directory of a file opened outside every root: only the `.mlsys` files directly in it.
    /// Not recursive, so that a file opened from a home directory does not make the server walk
    /// the whole home directory.
    fn directory(root: PathBuf) -> Project {
        let mut disk = HashMap::new();
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|file_type| file_type.is_file());
            let is_mlsys = is_file && path.extension().is_some_and(|extension| extension == "mlsys");
            if is_mlsys && let Ok(bytes) = std::fs::read(&path) {
                let name = entry.file_name().to_string_lossy().into_owned();
                disk.insert(path, SourceFile::from_bytes(name, bytes));
            }
        }
        Project::new(root, false, disk)
    }

    fn new(root: PathBuf, recursive: bool, disk: HashMap<PathBuf, SourceFile>) -> Project {
        Project {
            root,
            recursive,
            disk,
            analysis: None,
            dirty: true,
            touched: HashSet::new(),
            published: HashMap::new(),
        }
    }

    fn contains(&self, path: &Path) -> bool {
        if self.recursive {
            path.starts_with(&self.root)
        } else {
            path.parent() == Some(self.root.as_path())
        }
    }

    /// The file name the compiler sees: relative to the root, with `/` separators.
    fn name_of(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }
}

pub struct Workspace {
    pub encoding: Encoding,
    projects: Vec<Project>,
    open: HashMap<PathBuf, Document>,
}

impl Workspace {
    pub fn new(encoding: Encoding, roots: Vec<PathBuf>) -> Self {
        let projects = roots.into_iter().map(Project::load).collect();
        Workspace {
            encoding,
            projects,
            open: HashMap::new(),
        }
    }

    pub fn open(&mut self, uri: Uri, version: i32, text: String) {
        let Some(path) = uri::to_path(&uri) else {
            eprintln!("mlsys lsp: ignoring {}: not a file URI", uri.as_str());
            return;
        };
        if self.owner(&path).is_none() {
            let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
            self.projects.push(Project::directory(directory));
        }
        self.open.insert(path.clone(), Document { uri, version, text });
        self.touch(&path);
    }

    pub fn change(&mut self, uri: Uri, version: i32, text: String) {
        let Some(path) = uri::to_path(&uri) else { return };
        match self.open.get_mut(&path) {
            Some(document) => {
                document.version = version;
                document.text = text;
                self.touch(&path);
            }
            None => self.open(uri, version, text),
        }
    }

    /// The document was written: what is on disk is now its text.
    pub fn save(&mut self, uri: &Uri, text: Option<String>) {
        let Some(path) = uri::to_path(uri) else { return };
        let text = text.or_else(|| self.open.get(&path).map(|document| document.text.clone()));
        if let Some(text) = text {
            for project in self.projects.iter_mut().filter(|project| project.contains(&path)) {
                let name = project.name_of(&path);
                project.disk.insert(path.clone(), SourceFile::new(name, text.clone()));
            }
        }
        self.touch(&path);
    }

    /// The editor let go of the document: the file on disk (if any) stands for it again.
    pub fn close(&mut self, uri: &Uri) {
        let Some(path) = uri::to_path(uri) else { return };
        self.open.remove(&path);
        // Only a regular file: a named pipe at that path would block the server forever.
        let bytes = crate::project::read_regular(&path).ok();
        for project in self.projects.iter_mut().filter(|project| project.contains(&path)) {
            match &bytes {
                Some(bytes) if path.extension().is_some_and(|extension| extension == "mlsys") => {
                    let name = project.name_of(&path);
                    project
                        .disk
                        .insert(path.clone(), SourceFile::from_bytes(name, bytes.clone()));
                }
                _ => {
                    project.disk.remove(&path);
                }
            }
        }
        self.touch(&path);
    }

    pub fn document(&self, uri: &Uri) -> Option<&Document> {
        self.open.get(&uri::to_path(uri)?)
    }

    pub fn is_dirty(&self) -> bool {
        self.projects.iter().any(|project| project.dirty)
    }

    /// The latest analysis holding this document, and the document's id in it.
    pub fn analysis(&self, uri: &Uri) -> Option<(&Analysis, FileId)> {
        let path = uri::to_path(uri)?;
        let analysis = self.projects.get(self.owner(&path)?)?.analysis.as_ref()?;
        Some((analysis, analysis.file_of(&path)?))
    }

    /// Recompiles every project that changed and returns the diagnostics to publish: files whose
    /// diagnostics changed (an empty list for those that became clean) and the files just edited.
    pub fn refresh(&mut self) -> Vec<PublishDiagnosticsParams> {
        let mut publications = Vec::new();
        for index in 0..self.projects.len() {
            if self.projects[index].dirty {
                self.recompile(index);
                publications.extend(self.publications(index));
            }
        }
        publications
    }

    /// The project a path belongs to: the one with the deepest root containing it.
    fn owner(&self, path: &Path) -> Option<usize> {
        self.projects
            .iter()
            .enumerate()
            .filter(|(_, project)| project.contains(path))
            .max_by_key(|(_, project)| project.root.components().count())
            .map(|(index, _)| index)
    }

    fn touch(&mut self, path: &Path) {
        let owner = self.owner(path);
        for (index, project) in self.projects.iter_mut().enumerate() {
            if project.contains(path) {
                project.dirty = true;
                if Some(index) == owner {
                    project.touched.insert(path.to_path_buf());
                }
            }
        }
    }

    fn recompile(&mut self, index: usize) {
        let Some(project) = self.projects.get_mut(index) else {
            return;
        };
        // Cleared first: should the compiler panic, the server goes on with the previous analysis
        // instead of retrying the same text forever.
        project.dirty = false;
        let open_here = self.open.keys().filter(|path| project.contains(path));
        let paths: BTreeSet<&PathBuf> = project.disk.keys().chain(open_here).collect();
        let mut files = Vec::with_capacity(paths.len());
        let mut uris = Vec::with_capacity(paths.len());
        let mut kept_paths = Vec::with_capacity(paths.len());
        for path in paths {
            let (file, file_uri) = match (self.open.get(path), project.disk.get(path)) {
                (Some(document), _) => (
                    SourceFile::new(project.name_of(path), document.text.clone()),
                    Some(document.uri.clone()),
                ),
                (None, Some(file)) => (file.clone(), uri::from_path(path)),
                (None, None) => continue,
            };
            files.push(file);
            uris.push(file_uri);
            kept_paths.push(path.clone());
        }
        let line_maps = files.iter().map(|file| LineMap::new(&file.text)).collect();
        let compilation = compile(&files);
        project.analysis = Some(Analysis {
            encoding: self.encoding,
            paths: kept_paths,
            uris,
            files,
            line_maps,
            compilation,
        });
    }

    fn publications(&mut self, index: usize) -> Vec<PublishDiagnosticsParams> {
        let owners: Vec<bool> = match self.projects.get(index).and_then(|project| project.analysis.as_ref()) {
            Some(analysis) => analysis
                .paths
                .iter()
                .map(|path| self.owner(path) == Some(index))
                .collect(),
            None => return Vec::new(),
        };
        let Some(project) = self.projects.get_mut(index) else {
            return Vec::new();
        };
        let Some(analysis) = &project.analysis else {
            return Vec::new();
        };
        let mut by_file: Vec<Vec<lsp_types::Diagnostic>> = vec![Vec::new(); analysis.files.len()];
        for diagnostic in &analysis.compilation.diagnostics {
            let span = diagnostic.primary_span();
            let (Some(list), Some(range)) = (by_file.get_mut(span.file.0 as usize), analysis.range(span)) else {
                continue;
            };
            list.push(convert::diagnostic(diagnostic, range, |span| analysis.location(span)));
        }
        let mut publications = Vec::new();
        let mut still_present = HashSet::new();
        for (file_index, diagnostics) in by_file.into_iter().enumerate() {
            let path = &analysis.paths[file_index];
            if !owners[file_index] {
                continue;
            }
            still_present.insert(path.clone());
            let unchanged = project
                .published
                .get(path)
                .map_or(diagnostics.is_empty(), |old| *old == diagnostics);
            if unchanged && !project.touched.contains(path) {
                continue;
            }
            let Some(uri) = analysis.uris[file_index].clone() else {
                continue;
            };
            let version = self.open.get(path).map(|document| document.version);
            project.published.insert(path.clone(), diagnostics.clone());
            publications.push(PublishDiagnosticsParams::new(uri, diagnostics, version));
        }
        // Files that left the project (closed and not on disk) keep no diagnostics.
        let gone: Vec<PathBuf> = project
            .published
            .keys()
            .filter(|path| !still_present.contains(*path))
            .cloned()
            .collect();
        for path in gone {
            project.published.remove(&path);
            if let Some(uri) = uri::from_path(&path) {
                publications.push(PublishDiagnosticsParams::new(uri, Vec::new(), None));
            }
        }
        project.touched.clear();
        publications
    }
}
