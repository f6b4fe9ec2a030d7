// Bundles the browser code with esbuild (or copies it, for HTML) and turns
// each asset into a C source of byte arrays (plain and gzip), so the .so is
// the only artifact; and writes the widget's defaults, which the browser
// code imports from www/shared/defaults.json, as a C header for nginx.
// Usage: node scripts/build-www.mjs OUT_DIR GEN_DIR
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { gzipSync, constants } from 'node:zlib';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [outDir = 'build/www', genDir = 'build/gen'] = process.argv.slice(2);

const JS = 'application/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

// name: the path under PREFIX it is served at; source: the file in www/;
// kind: 'js' and 'css' are bundled and minified by esbuild, 'copy' is taken
// as it is. In every kind "%%HASH:NAME%%" becomes the content hash of the
// asset NAME built before it (so pages can load "../agent.js?v=HASH", and
// the widget "cobrowse.js?v=HASH", which are cached as immutable).
// file: where the output goes under OUT_DIR.
const assets = [
  // co-browsing: the visitor's recorder, loaded by the widget only after
  // consent, and the console's replay, loaded when a view opens
  { name: 'cobrowse.js', source: 'www/cobrowse/record.js', type: JS, kind: 'js' },
  { name: 'cobrowse-replay.js', source: 'www/replay/index.js', type: JS, kind: 'js' },
  { name: 'widget.js', source: 'www/widget/index.js', type: JS, kind: 'js' },
  { name: 'agent.js', source: 'www/agent/index.js', type: JS, kind: 'js' },
  { name: 'agent.css', source: 'www/agent/agent.css', type: CSS, kind: 'css' },
  { name: 'join.js', source: 'www/join/index.js', type: JS, kind: 'js' },
  { name: 'agent/', source: 'www/agent/index.html', type: HTML, kind: 'copy', file: 'agent/index.html' },
  { name: 'join', source: 'www/join/index.html', type: HTML, kind: 'copy', file: 'join.html' },
  // the REST API's own description, served at PREFIX api/v1/openapi.json
  { name: 'api/v1/openapi.json', source: 'docs/openapi.json', type: 'application/json', kind: 'copy', file: 'openapi.json' },
].filter((a) => existsSync(a.source));

mkdirSync(outDir, { recursive: true });
mkdirSync(genDir, { recursive: true });

// ---- the widget's defaults: GEN_DIR/ngx_chatvisor_defaults.h ----
// Each key of www/shared/defaults.json becomes one #define; a key this
// does not know, or a value nginx could not take as it is, stops the build.
const DEFAULTS_JSON = 'www/shared/defaults.json';
const POSITIONS = ['right', 'left'];    // ngx_chatvisor_widget_conf_t.position: 0, 1

// what the widget can be told: its languages (the keys of TEXTS) and the
// texts nginx.conf and the REST API may set (CONFIGURABLE), as C lists
// (bundled first: it imports the JSON defaults, as the widget does)
const i18n = await build({
  entryPoints: ['www/widget/i18n.js'], bundle: true, format: 'esm', write: false, logLevel: 'error',
});
const { TEXTS, CONFIGURABLE } = await import(
  'data:text/javascript;base64,' + Buffer.from(i18n.outputFiles[0].text).toString('base64'));

// every language has every text the English one has
for (const [lang, texts] of Object.entries(TEXTS)) {
  const missing = Object.keys(TEXTS.en).filter((k) => typeof texts[k] !== 'string' || texts[k] === '');
  if (missing.length) throw new Error(`www/widget/i18n.js: "${lang}" has no ${missing.join(', ')}`);
}

function cList(words) {
  for (const w of words) {
    if (!/^[a-z]+$/.test(w)) throw new Error(`www/widget/i18n.js: "${w}" cannot be a C name`);
  }
  return [words.map((w) => JSON.stringify(w)).join(', '), JSON.stringify(words.join(', '))];
}

function defaultsHeader(d) {
  const want = (key, ok, what) => {
    if (!ok(d[key])) throw new Error(`${DEFAULTS_JSON}: "${key}" must be ${what}`);
    return d[key];
  };
  const str = (v) => JSON.stringify(v);   // printable ASCII: the same in C
  const defines = [
    ['NGX_CHATVISOR_DEFAULT_COLOR',
      str(want('color', (v) => /^#[0-9a-f]{6}$/.test(v), 'a lower-case "#rrggbb"'))],
    ['NGX_CHATVISOR_DEFAULT_PREFIX',
      str(want('prefix', (v) => /^\/([A-Za-z0-9._~-]+\/)*$/.test(v), 'a path that starts and ends with "/"'))],
    ['NGX_CHATVISOR_DEFAULT_POSITION',
      POSITIONS.indexOf(want('position', (v) => POSITIONS.includes(v), POSITIONS.join(' or ')))
      + `  /* ${d.position} */`],
    ['NGX_CHATVISOR_DEFAULT_LANGUAGE',
      str(want('language', (v) => /^[a-z]{2,3}$/.test(v), 'a primary language subtag ("en")'))],
    ['NGX_CHATVISOR_DEFAULT_SHOW_AFTER',
      want('show_after_ms', (v) => Number.isInteger(v) && v >= 0, 'milliseconds (a whole number)') + '  /* ms */'],
  ];
  const [languages, languagesText] = cList(Object.keys(TEXTS));
  const [texts, textsText] = cList(CONFIGURABLE);
  if (!Object.keys(TEXTS).includes(d.language)) {
    throw new Error(`${DEFAULTS_JSON}: "language" must be one of www/widget/i18n.js's`);
  }
  defines.push(['NGX_CHATVISOR_LANGUAGES', languages],
               ['NGX_CHATVISOR_LANGUAGES_TEXT', languagesText],
               ['NGX_CHATVISOR_TEXT_KEYS', texts],
               ['NGX_CHATVISOR_TEXT_KEYS_TEXT', textsText]);
  const known = ['color', 'prefix', 'position', 'language', 'show_after_ms'];
  for (const key of Object.keys(d)) {
    if (!known.includes(key)) throw new Error(`${DEFAULTS_JSON}: "${key}": no C name for it in scripts/build-www.mjs`);
  }
  return `/* generated by scripts/build-www.mjs from ${DEFAULTS_JSON} and www/widget/i18n.js: do not edit */\n\n`
    + '#ifndef _NGX_CHATVISOR_DEFAULTS_H_INCLUDED_\n#define _NGX_CHATVISOR_DEFAULTS_H_INCLUDED_\n\n'
    + defines.map(([name, value]) => `#define ${name.padEnd(34)}${value}\n`).join('')
    + '\n#endif\n';
}

// rewritten only when its text changes (every C file of the module depends on it)
const header = defaultsHeader(JSON.parse(readFileSync(DEFAULTS_JSON, 'utf8')));
const headerFile = join(genDir, 'ngx_chatvisor_defaults.h');
if (!existsSync(headerFile) || readFileSync(headerFile, 'utf8') !== header) writeFileSync(headerFile, header);

function cArray(buf) {
  const rows = [];
  for (let i = 0; i < buf.length; i += 16) {
    rows.push('    ' + Array.from(buf.subarray(i, i + 16), (b) => '0x' + b.toString(16).padStart(2, '0')).join(', ') + ',');
  }
  return rows.join('\n');
}

let c = '/* generated by scripts/build-www.mjs: do not edit */\n\n'
  + '#include <ngx_config.h>\n#include <ngx_core.h>\n#include "ngx_chatvisor_http.h"\n\n';
const entries = [];
const hashes = {};

for (const [i, a] of assets.entries()) {
  const out = join(outDir, a.file || a.name);
  mkdirSync(dirname(out), { recursive: true });
  const withHashes = (text) => text.replace(/%%HASH:([\w./-]+)%%/g, (m, name) => {
    if (!hashes[name]) throw new Error(`${a.source}: ${m}: no asset ${name} built before it`);
    return hashes[name];
  });
  if (a.kind === 'js' || a.kind === 'css') {
    const r = await build({
      entryPoints: [a.source], bundle: true, minify: true,
      ...(a.kind === 'js' ? { format: 'iife', target: ['es2019'] } : { loader: { '.css': 'css' }, target: ['chrome90', 'firefox90', 'safari14'] }),
      outfile: out, legalComments: 'none', logLevel: 'warning', write: false,
    });
    writeFileSync(out, withHashes(r.outputFiles.find((f) => f.path.endsWith(out.replace(/^.*\//, ''))).text));
  } else {
    writeFileSync(out, withHashes(readFileSync(a.source, 'utf8')));
  }
  const body = readFileSync(out);
  const gz = gzipSync(body, { level: constants.Z_BEST_COMPRESSION });
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  hashes[a.name] = hash;
  c += `static u_char cv_asset_${i}[] = {\n${cArray(body)}\n};\n\n`;
  c += `static u_char cv_asset_${i}_gz[] = {\n${cArray(gz)}\n};\n\n`;
  entries.push(`    { ngx_string("${a.name}"), ngx_string("${a.type}"), ngx_string("${hash}"),\n`
    + `      cv_asset_${i}, sizeof(cv_asset_${i}), cv_asset_${i}_gz, sizeof(cv_asset_${i}_gz) },`);
}

c += 'ngx_chatvisor_asset_t  ngx_chatvisor_assets[] = {\n' + entries.join('\n')
  + '\n    { ngx_null_string, ngx_null_string, ngx_null_string, NULL, 0, NULL, 0 }\n};\n';

writeFileSync(join(genDir, 'ngx_chatvisor_assets.c'), c);
