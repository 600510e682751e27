import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mjml2html from 'mjml';
import type { MessageKind } from '../db/schema.js';
import { LOCALES, type Locale } from '../locales/locale.js';

export const TEMPLATES_FOLDER = fileURLToPath(new URL('../../../templates', import.meta.url));

export type TemplateVariables = Record<string, string>;

export interface RenderedMessage {
  subject: string;
  html: string;
  text: string;
}

/** A template split at its {{placeholders}}: even indexes are literal text, odd ones variable names. */
export type CompiledText = string[];

/** A message's three parts, compiled: only the variables are filled in per message. */
export interface CompiledTemplate {
  subject: CompiledText;
  html: CompiledText;
  text: CompiledText;
}

export type Templates = ReadonlyMap<string, CompiledTemplate>;

const PLACEHOLDER = /\{\{(\w+)\}\}/;

export function compileText(source: string): CompiledText {
  return source.split(PLACEHOLDER);
}

function fill(compiled: CompiledText, variables: TemplateVariables, escape: (value: string, name: string) => string): string {
  let out = '';
  for (let i = 0; i < compiled.length; i++) {
    const part = compiled[i]!;
    if (i % 2 === 0) out += part;
    else {
      const value = variables[part];
      if (value === undefined) throw new Error(`template variable "${part}" has no value`);
      out += escape(value, part);
    }
  }
  return out;
}

export function escapeHtml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

/**
 * In the HTML part, a variable whose name ends in `Html` is markup the caller made safe (a list's
 * welcome message, sanitised by src/lists/welcomeMessage.ts); every other value is escaped.
 */
const htmlValue = (value: string, name: string) => (name.endsWith('Html') ? value : escapeHtml(value));

/** A subject is a header: line breaks in a value must never start a new header line. */
function headerSafe(value: string): string {
  return value.replace(/[\r\n\u0000]+/g, ' ');
}

const identity = (value: string) => value;

function decodeTitle(html: string): string {
  const title = /<title>([\s\S]*?)<\/title>/.exec(html)?.[1] ?? '';
  return title
    .trim()
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');
}

/**
 * Compiles every MJML template once, at start. Per message only the variables are filled in,
 * which is what keeps rendering cheap; a broken template stops the service at start instead
 * of failing mail by mail.
 */
export async function loadTemplates(folder: string = TEMPLATES_FOLDER): Promise<Templates> {
  const templates = new Map<string, CompiledTemplate>();
  const kinds: MessageKind[] = ['confirmation', 'welcome', 'goodbye', 'erase_link', 'export_link', 'reminder'];
  for (const locale of LOCALES) {
    for (const kind of kinds) {
      const base = path.join(folder, locale, kind);
      const [mjmlSource, textSource] = await Promise.all([readFile(`${base}.mjml`, 'utf8'), readFile(`${base}.txt`, 'utf8')]);
      // Template comments are notes for whoever edits them, not content for every recipient.
      const result = await mjml2html(mjmlSource, { validationLevel: 'strict', filePath: `${base}.mjml`, keepComments: false });
      if (result.errors.length > 0) {
        throw new Error(`template ${locale}/${kind}.mjml: ${result.errors.map((e) => e.formattedMessage).join('; ')}`);
      }
      templates.set(`${locale}/${kind}`, {
        subject: compileText(decodeTitle(result.html)),
        html: compileText(result.html),
        text: compileText(textSource),
      });
    }
  }
  return templates;
}

export function renderMessage(templates: Templates, locale: Locale, kind: MessageKind, variables: TemplateVariables): RenderedMessage {
  const template = templates.get(`${locale}/${kind}`);
  if (!template) throw new Error(`no template ${locale}/${kind}`);
  return {
    subject: fill(template.subject, variables, headerSafe),
    html: fill(template.html, variables, htmlValue),
    text: fill(template.text, variables, identity),
  };
}
