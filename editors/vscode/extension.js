// The VS Code side of `cnnspec lsp`: starts the server for .cnn documents (the highlighting
// needs none of this: it is the grammar in syntaxes/). Settings: cnnspec.server.enabled and
// cnnspec.server.command (default ["cnnspec", "lsp"]; the server speaks LSP over stdio).
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function serverOptions(config) {
  const [command, ...args] = config.get("server.command") || ["cnnspec", "lsp"];
  const server = { command, args };
  return { run: server, debug: server };
}

function clientOptions() {
  return {
    documentSelector: [{ scheme: "file", language: "cnnspec" }, { scheme: "untitled", language: "cnnspec" }],
  };
}

async function activate(context) {
  const config = vscode.workspace.getConfiguration("cnnspec");
  if (config.get("server.enabled") === false) return;
  client = new LanguageClient("cnnspec", "cnnspec language server", serverOptions(config), clientOptions());
  context.subscriptions.push(client);
  try {
    await client.start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `cnnspec: cannot start the language server (${err.message || err}); ` +
      "install it with pip install 'cnnspec[lsp]' or set cnnspec.server.command");
  }
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate, serverOptions, clientOptions };
