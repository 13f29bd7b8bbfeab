#!/usr/bin/env node
// Checks extension.js against a real `cnnspec lsp`, with Microsoft's own protocol library
// (vscode-languageserver-protocol, what vscode-languageclient is built on) as the client:
//   node test/client_check.js SPEC.cnn LINE CHARACTER  ->  JSON on stdout
// `vscode` is replaced by a stand-in that answers the settings' defaults from package.json;
// vscode-languageclient by one that records what extension.js asks it to start. That command
// is then spawned and spoken to: initialize, didOpen SPEC, its publishDiagnostics, a hover and
// a definition at LINE:CHARACTER (0-based), shutdown, exit; the process's exit code last.
"use strict";
const Module = require("module");
const fs = require("fs");
const path = require("path");
const { spawn } = require("child_process");
const rpc = require("vscode-languageserver-protocol/node");

const manifest = require("../package.json");
const started = [];
const defaults = manifest.contributes.configuration.properties;
const fakes = {
  vscode: {
    workspace: { getConfiguration: (section) => ({ get: (key) => defaults[`${section}.${key}`].default }) },
    window: { showErrorMessage: (message) => started.push({ error: message }) },
  },
  "vscode-languageclient/node": {
    LanguageClient: class {
      constructor(id, name, server, client) { started.push({ id, server, client }); }
      start() { return Promise.resolve(); }
      stop() { return Promise.resolve(); }
      dispose() {}
    },
  },
};
const load = Module._load;
Module._load = function (request, ...rest) {
  return request in fakes ? fakes[request] : load.call(this, request, ...rest);
};

function withTimeout(promise, what, ms = 30000) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} in ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const [file, line, character] = [path.resolve(process.argv[2]), +process.argv[3], +process.argv[4]];
  const extension = require("../extension.js");
  const context = { subscriptions: [] };
  await extension.activate(context);
  const { server, client } = started[0];
  const proc = spawn(server.run.command, server.run.args, { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  const conn = rpc.createProtocolConnection(new rpc.StreamMessageReader(proc.stdout), new rpc.StreamMessageWriter(proc.stdin));
  const uri = "file://" + file;
  const diagnostics = new Promise((resolve) => conn.onNotification(rpc.PublishDiagnosticsNotification.type,
    (p) => { if (p.uri === uri) resolve(p.diagnostics); }));
  conn.listen();
  const init = await withTimeout(conn.sendRequest(rpc.InitializeRequest.type,
    { processId: process.pid, rootUri: null, capabilities: {} }), "initialize answer");
  await conn.sendNotification(rpc.InitializedNotification.type, {});
  await conn.sendNotification(rpc.DidOpenTextDocumentNotification.type, { textDocument:
    { uri, languageId: client.documentSelector[0].language, version: 1, text: fs.readFileSync(file, "utf8") } });
  const position = { textDocument: { uri }, position: { line, character } };
  const result = {
    server: server.run, selector: client.documentSelector, capabilities: init.capabilities,
    diagnostics: await withTimeout(diagnostics, "publishDiagnostics"),
    hover: await withTimeout(conn.sendRequest(rpc.HoverRequest.type, position), "hover"),
    definition: await withTimeout(conn.sendRequest(rpc.DefinitionRequest.type, position), "definition"),
  };
  await withTimeout(conn.sendRequest(rpc.ShutdownRequest.type), "shutdown answer");
  await conn.sendNotification(rpc.ExitNotification.type);
  result.exit_code = await withTimeout(exited, "exit");
  conn.dispose();
  process.stdout.write(JSON.stringify(result));
}

main().catch((err) => { console.error(err); process.exit(1); });
