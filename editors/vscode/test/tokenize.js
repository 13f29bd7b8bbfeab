#!/usr/bin/env node
// Tokenizes .cnn files with VS Code's own TextMate engine (vscode-textmate + the Oniguruma
// WebAssembly build), for tests/test_textmate_issue10.py and for looking at a grammar change:
//   node test/tokenize.js FILE.cnn ...   ->  JSON: {FILE: [[{start, end, scopes}, ...], ...]}
// One list of tokens per line (only '\n' ends a line, as cnnspec's parser counts them);
// start/end are 0-based UTF-16 offsets into the line.
//   node test/tokenize.js --search REQUEST.json  ->  for {patterns: [...], lines: [...]}: per
// pattern, per line, the [start, end] of Oniguruma's first match from offset 0, or null (so a
// test can compare another regex engine with the one VS Code uses).
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const GRAMMAR = path.join(__dirname, "..", "syntaxes", "cnn.tmLanguage.json");

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => scopeName === "source.cnn"
      ? vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, "utf8"), GRAMMAR) : null,
  });
  return registry.loadGrammar("source.cnn");
}

function tokenize(grammar, text) {
  let stack = vsctm.INITIAL;
  return text.split("\n").map((line) => {
    const result = grammar.tokenizeLine(line.replace(/\r$/, ""), stack);
    stack = result.ruleStack;
    return result.tokens.map((t) => ({ start: t.startIndex, end: t.endIndex, scopes: t.scopes }));
  });
}

function search(request) {
  return request.patterns.map((pattern) => {
    const scanner = new oniguruma.OnigScanner([pattern]);
    return request.lines.map((line) => {
      const m = scanner.findNextMatchSync(new oniguruma.OnigString(line), 0);
      return m ? [m.captureIndices[0].start, m.captureIndices[0].end] : null;
    });
  });
}

loadGrammar().then((grammar) => {
  if (process.argv[2] === "--search") {
    process.stdout.write(JSON.stringify(search(JSON.parse(fs.readFileSync(process.argv[3], "utf8")))));
    return;
  }
  const out = {};
  for (const file of process.argv.slice(2)) out[file] = tokenize(grammar, fs.readFileSync(file, "utf8"));
  process.stdout.write(JSON.stringify(out));
}).catch((err) => { console.error(err); process.exit(1); });
