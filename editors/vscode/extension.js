// mlsys for VS Code: the TextMate grammar does the highlighting; everything else (diagnostics,
// hover, go to definition, completion, formatting) comes from the language server `mlsysc lsp`.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

async function start() {
  const command = vscode.workspace.getConfiguration('mlsys').get('server.path') || 'mlsysc';
  // `transport` is left unset on purpose: that is stdio, and the client then passes the args as
  // given (TransportKind.stdio would append `--stdio`). The working directory defaults to the
  // first workspace folder, so a relative path such as `target/debug/mlsysc` works.
  const serverOptions = { command, args: ['lsp'] };
  const clientOptions = { documentSelector: [{ scheme: 'file', language: 'mlsys' }] };
  client = new LanguageClient('mlsys', 'mlsys language server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `mlsys: could not start the language server \`${command} lsp\` (${err.message || err}). ` +
        'Set `mlsys.server.path` to the mlsysc executable.'
    );
  }
}

async function stop() {
  const running = client;
  client = undefined;
  if (running) await running.stop().catch(() => {});
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('mlsys.server.path')) {
        await stop();
        await start();
      }
    })
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
