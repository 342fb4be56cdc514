//! `mlsysc lsp`: the language server. A synchronous loop over lsp-server's stdio transport: it
//! takes one message at a time, recompiles lazily (once the client has nothing more queued, or before
//! answering a request), and never lets one bad request or a panicking handler take it down.
//!
//! Architecture invariant: this module is the only part of mlsys that knows about LSP; everything
//! it answers comes from `mlsys_compiler::compile` and its symbol index.

mod completion;
mod context;
mod convert;
mod features;
mod uri;
mod workspace;

#[cfg(test)]
mod tests;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::ExitCode;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as NotificationTrait, PublishDiagnostics,
};
use lsp_types::request::{Completion, Formatting, GotoDefinition, HoverRequest, Request as RequestTrait};
use lsp_types::{
    CompletionOptions, CompletionResponse, InitializeParams, OneOf, SaveOptions, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions,
};

use convert::Encoding;
use workspace::Workspace;

/// An error answer to a request.
struct Failure {
    code: ErrorCode,
    message: String,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

pub fn run() -> anyhow::Result<ExitCode> {
    let (connection, io_threads) = Connection::stdio();
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_else(|error| {
        eprintln!("mlsys lsp: unreadable initialize parameters ({error}); using defaults");
        InitializeParams::default()
    });
    let offered = params
        .capabilities
        .general
        .as_ref()
        .and_then(|general| general.position_encodings.as_deref());
    let encoding = Encoding::negotiate(offered);
    let snippets = params
        .capabilities
        .text_document
        .as_ref()
        .and_then(|text| text.completion.as_ref())
        .and_then(|completion| completion.completion_item.as_ref())
        .and_then(|item| item.snippet_support)
        .unwrap_or(false);
    let result = serde_json::json!({
        "capabilities": capabilities(encoding),
        "serverInfo": ServerInfo { name: "mlsys".to_string(), version: Some(env!("CARGO_PKG_VERSION").to_string()) },
    });
    connection.initialize_finish(id, result)?;
    let mut server = Server {
        connection,
        workspace: Workspace::new(encoding, roots(&params)),
        snippets,
        shutdown_requested: false,
    };
    let exit = server.main_loop();
    drop(server);
    io_threads.join()?;
    Ok(exit)
}

fn capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(encoding.kind()),
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::FULL),
            save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                include_text: Some(true),
            })),
            ..TextDocumentSyncOptions::default()
        })),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_string(), "@".to_string(), ":".to_string()]),
            ..CompletionOptions::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// The workspace folders, else the root URI, else the root path.
#[allow(deprecated)] // `root_uri` and `root_path` are deprecated in favour of folders, yet still sent.
fn roots(params: &InitializeParams) -> Vec<PathBuf> {
    if let Some(folders) = &params.workspace_folders {
        let roots: Vec<PathBuf> = folders.iter().filter_map(|folder| uri::to_path(&folder.uri)).collect();
        if !roots.is_empty() {
            return roots;
        }
    }
    if let Some(root) = params.root_uri.as_ref().and_then(uri::to_path) {
        return vec![root];
    }
    params.root_path.iter().map(PathBuf::from).collect()
}

struct Server {
    connection: Connection,
    workspace: Workspace,
    snippets: bool,
    shutdown_requested: bool,
}

impl Server {
    /// Runs until `exit` (status 0 after `shutdown`, 1 without) or until the client hangs up.
    fn main_loop(&mut self) -> ExitCode {
        loop {
            // Recompile only once nothing else is waiting, so a burst of edits costs one compile.
            let message = if self.workspace.is_dirty() {
                match self.connection.receiver.try_recv() {
                    Ok(message) => message,
                    Err(error) if error.is_empty() => {
                        self.refresh();
                        continue;
                    }
                    Err(_) => break,
                }
            } else {
                match self.connection.receiver.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                }
            };
            match message {
                Message::Request(request) => {
                    let response = self.request(request);
                    self.send(response.into());
                }
                Message::Notification(notification) if notification.method == "exit" => {
                    return if self.shutdown_requested {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    };
                }
                Message::Notification(notification) => self.notification(notification),
                Message::Response(_) => {}
            }
        }
        eprintln!("mlsys lsp: the client closed the connection without `exit`");
        ExitCode::from(1)
    }

    fn send(&self, message: Message) {
        if self.connection.sender.send(message).is_err() {
            eprintln!("mlsys lsp: cannot write to the client");
        }
    }

    fn refresh(&mut self) {
        let publications = match catch_unwind(AssertUnwindSafe(|| self.workspace.refresh())) {
            Ok(publications) => publications,
            Err(panic) => {
                eprintln!("mlsys lsp: internal error while compiling: {}", panic_message(&panic));
                return;
            }
        };
        for publication in publications {
            let notification = Notification::new(PublishDiagnostics::METHOD.to_string(), publication);
            self.send(notification.into());
        }
    }

    fn request(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        if self.shutdown_requested {
            return Response::new_err(
                id,
                ErrorCode::InvalidRequest as i32,
                "the server is shutting down".to_string(),
            );
        }
        if request.method == "shutdown" {
            self.shutdown_requested = true;
            return Response::new_ok(id, ());
        }
        let method = request.method.clone();
        match catch_unwind(AssertUnwindSafe(|| self.dispatch(request))) {
            Ok(Ok(result)) => Response::new_ok(id, result),
            Ok(Err(failure)) => Response::new_err(id, failure.code as i32, failure.message),
            Err(panic) => {
                let message = panic_message(&panic);
                eprintln!("mlsys lsp: internal error in {method}: {message}");
                Response::new_err(
                    id,
                    ErrorCode::InternalError as i32,
                    format!("internal error in {method}: {message}"),
                )
            }
        }
    }

    fn dispatch(&mut self, request: Request) -> Result<serde_json::Value, Failure> {
        // Answers are about the text the client has now.
        if self.workspace.is_dirty() {
            self.refresh();
        }
        let method = request.method.clone();
        let result = match method.as_str() {
            HoverRequest::METHOD => {
                let params = parse::<HoverRequest>(request)?;
                let position = params.text_document_position_params;
                let answer = self
                    .workspace
                    .analysis(&position.text_document.uri)
                    .and_then(|(analysis, file)| features::hover(analysis, file, position.position));
                serde_json::to_value(answer)
            }
            GotoDefinition::METHOD => {
                let params = parse::<GotoDefinition>(request)?;
                let position = params.text_document_position_params;
                let answer = self
                    .workspace
                    .analysis(&position.text_document.uri)
                    .and_then(|(analysis, file)| features::definition(analysis, file, position.position));
                serde_json::to_value(answer)
            }
            Completion::METHOD => {
                let params = parse::<Completion>(request)?;
                let position = params.text_document_position;
                let answer = self
                    .workspace
                    .analysis(&position.text_document.uri)
                    .and_then(|(analysis, file)| {
                        let offset = analysis.offset(file, position.position)?;
                        let items = completion::completion(analysis, file, offset, self.snippets);
                        Some(CompletionResponse::Array(items))
                    });
                serde_json::to_value(answer)
            }
            Formatting::METHOD => {
                let params = parse::<Formatting>(request)?;
                let document = self.workspace.document(&params.text_document.uri);
                let text = match document {
                    Some(document) => document.text.clone(),
                    None => match self.workspace.analysis(&params.text_document.uri) {
                        Some((analysis, file)) => analysis.text(file).to_string(),
                        None => return Ok(serde_json::Value::Null),
                    },
                };
                let edits = features::formatting(&text, self.workspace.encoding)
                    .map_err(|message| Failure::new(ErrorCode::RequestFailed, message))?;
                serde_json::to_value(edits)
            }
            _ => {
                return Err(Failure::new(
                    ErrorCode::MethodNotFound,
                    format!("unsupported request `{method}`"),
                ));
            }
        };
        result.map_err(|error| Failure::new(ErrorCode::InternalError, error.to_string()))
    }

    fn notification(&mut self, notification: Notification) {
        let method = notification.method.clone();
        let handled = catch_unwind(AssertUnwindSafe(|| self.apply(notification)));
        match handled {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => eprintln!("mlsys lsp: ignoring {method}: {}", failure.message),
            Err(panic) => eprintln!("mlsys lsp: internal error in {method}: {}", panic_message(&panic)),
        }
    }

    fn apply(&mut self, notification: Notification) -> Result<(), Failure> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let params = parse_notification::<DidOpenTextDocument>(notification)?;
                let document = params.text_document;
                self.workspace.open(document.uri, document.version, document.text);
            }
            DidChangeTextDocument::METHOD => {
                let params = parse_notification::<DidChangeTextDocument>(notification)?;
                // Full sync: the last change holds the whole text.
                if let Some(change) = params.content_changes.into_iter().last() {
                    let document = params.text_document;
                    self.workspace.change(document.uri, document.version, change.text);
                }
            }
            DidSaveTextDocument::METHOD => {
                let params = parse_notification::<DidSaveTextDocument>(notification)?;
                self.workspace.save(&params.text_document.uri, params.text);
            }
            DidCloseTextDocument::METHOD => {
                let params = parse_notification::<DidCloseTextDocument>(notification)?;
                self.workspace.close(&params.text_document.uri);
            }
            // `initialized`, `$/cancelRequest` (answers are immediate), `$/setTrace` and others.
            _ => {}
        }
        Ok(())
    }
}

fn parse<R: RequestTrait>(request: Request) -> Result<R::Params, Failure> {
    serde_json::from_value(request.params).map_err(|error| {
        Failure::new(
            ErrorCode::InvalidParams,
            format!("invalid parameters for {}: {error}", request.method),
        )
    })
}

fn parse_notification<N: NotificationTrait>(notification: Notification) -> Result<N::Params, Failure> {
    serde_json::from_value(notification.params)
        .map_err(|error| Failure::new(ErrorCode::InvalidParams, error.to_string()))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic".to_string()
    }
}
