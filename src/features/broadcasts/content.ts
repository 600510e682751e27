import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { marked } from 'marked';
import mjml2html from 'mjml';
import sanitizeHtml from 'sanitize-html';
import type { BroadcastFormat } from '../../platform/db/schema.js';
import { decodeLocalizedText, localesOf, localize, type LocalizedText } from '../../platform/locales/localizedText.js';
import { DEFAULT_LOCALE, LOCALES, type Locale } from '../../platform/locales/locale.js';
import { compileText, escapeHtml, TEMPLATES_FOLDER, type CompiledTemplate, type CompiledText } from '../../platform/mail/templates.js';

/** What a broadcast's words are made of, as stored. */
export interface BroadcastContent {
  subject: LocalizedText;
  body: LocalizedText;
  format: BroadcastFormat;
}

/** The layout every broadcast is poured into, per locale: MJML and plain-text sources with {{placeholders}}. */
export type BroadcastLayouts = ReadonlyMap<Locale, { mjml: string; text: string }>;

/** Reads templates/<locale>/broadcast.{mjml,txt} once, at start. */
export async function loadBroadcastLayouts(folder: string = TEMPLATES_FOLDER): Promise<BroadcastLayouts> {
  const layouts = new Map<Locale, { mjml: string; text: string }>();
  for (const locale of LOCALES) {
    const base = path.join(folder, locale, 'broadcast');
    const [mjml, text] = await Promise.all([readFile(`${base}.mjml`, 'utf8'), readFile(`${base}.txt`, 'utf8')]);
    layouts.set(locale, { mjml, text });
  }
  return layouts;
}

const MJ_LAYOUT_TAGS = [
  'mj-section',
  'mj-column',
  'mj-group',
  'mj-wrapper',
  'mj-text',
  'mj-image',
  'mj-button',
  'mj-divider',
  'mj-spacer',
  'mj-table',
];
/*
 * MJML writes most attribute values into a style attribute as they are, so a value is parsed as
 * the one CSS value it stands for, never passed through: `border="1px solid red;background-image:url(…)"`
 * would otherwise add a declaration that fetches a tracker.
 */
const NUMBER = String.raw`\d{1,4}(?:\.\d{1,3})?`;
const LENGTH = String.raw`(?:0|${NUMBER}(?:px|%|em|rem|pt)?)`;
const COLOR = String.raw`(?:#[0-9a-f]{3,4}|#[0-9a-f]{6}|#[0-9a-f]{8}|[a-z]{3,20}|rgba?\(\s*${NUMBER}%?\s*,\s*${NUMBER}%?\s*,\s*${NUMBER}%?\s*(?:,\s*${NUMBER}%?\s*)?\))`;
const BORDER_STYLE = 'none|hidden|dotted|dashed|solid|double|groove|ridge|inset|outset';
const whole = (pattern: string) => new RegExp(`^(?:${pattern})$`, 'i');
const lengths = (most: number) => whole(`${LENGTH}(?:\\s+${LENGTH}){0,${most - 1}}`);
const keywords = (words: string) => whole(words);

/**
 * Presentation attributes of the MJML components, each with the values it takes (null: not CSS,
 * an attribute of its own, checked elsewhere: a link's or image's URL by its scheme, words of
 * alt and title escaped). None can fetch anything but an image's https src.
 */
const MJ_ATTRIBUTES: Record<string, RegExp | null> = {
  align: keywords('left|right|center|justify'),
  alt: null,
  'background-color': whole(COLOR),
  border: whole(`none|(?:(?:${LENGTH}|${BORDER_STYLE}|${COLOR})(?:\\s+|$)){1,3}`),
  'border-color': whole(COLOR),
  'border-radius': lengths(4),
  'border-style': keywords(BORDER_STYLE),
  'border-width': lengths(4),
  color: whole(COLOR),
  'container-background-color': whole(COLOR),
  direction: keywords('ltr|rtl'),
  'font-size': whole(LENGTH),
  'font-style': keywords('normal|italic|oblique'),
  'font-weight': keywords('normal|bold|bolder|lighter|[1-9]00'),
  height: whole(`auto|${LENGTH}`),
  href: null,
  'inner-padding': lengths(4),
  'line-height': whole(`normal|${LENGTH}`),
  padding: lengths(4),
  'padding-bottom': whole(LENGTH),
  'padding-left': whole(LENGTH),
  'padding-right': whole(LENGTH),
  'padding-top': whole(LENGTH),
  src: null,
  'text-align': keywords('left|right|center|justify'),
  'text-decoration': keywords('none|underline|overline|line-through'),
  title: null,
  'vertical-align': keywords('top|middle|bottom|baseline'),
  width: whole(`auto|${LENGTH}`),
};

/** An MJML tag's attributes, each kept only when its whole value is one its grammar allows. */
function mjAttributeValues(tagName: string, attribs: Record<string, string>) {
  if (!tagName.startsWith('mj-')) return { tagName, attribs };
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(attribs)) {
    const grammar = MJ_ATTRIBUTES[name];
    if (grammar === undefined) continue;
    if (grammar === null) kept[name] = value;
    else if (grammar.test(value.trim())) kept[name] = value.trim();
  }
  return { tagName, attribs: kept };
}

/**
 * Sanitises a body rather than refusing it: scripts, styles, forms, frames and event handlers
 * go (their content too), images keep only an https src (an http or data: image is dropped:
 * remote content over plain http, or a tracking trick), links keep http(s) and mailto only, and
 * no style attribute or <style> survives, so no remote font or background can be pulled in; an
 * MJML attribute keeps only a value of its own kind (a length, a colour, a keyword), not CSS.
 */
export function sanitizeBody(html: string, format: BroadcastFormat): string {
  const mjml = format === 'mjml';
  const htmlTags = [...sanitizeHtml.defaults.allowedTags, 'img'];
  return sanitizeHtml(html, {
    allowedTags: mjml ? [...htmlTags, ...MJ_LAYOUT_TAGS] : htmlTags,
    allowedAttributes: {
      a: ['href', 'title'],
      img: ['src', 'alt', 'width', 'height', 'title'],
      td: ['colspan', 'rowspan', 'align'],
      th: ['colspan', 'rowspan', 'align'],
      ...(mjml ? Object.fromEntries(MJ_LAYOUT_TAGS.map((tag) => [tag, Object.keys(MJ_ATTRIBUTES)])) : {}),
    },
    // Each MJML attribute's value is parsed as a value (MJ_ATTRIBUTES); one that is not is dropped.
    transformTags: mjml ? { '*': mjAttributeValues } : {},
    allowedSchemes: ['https', 'http', 'mailto'],
    allowedSchemesByTag: { img: ['https'], 'mj-image': ['https'] },
    allowedSchemesAppliedToAttributes: ['href', 'src'],
    allowProtocolRelative: false,
    selfClosing: [...sanitizeHtml.defaults.selfClosing, 'mj-image', 'mj-divider', 'mj-spacer'],
    // What these hold is code or head matter, not words: dropped with the tag.
    nonTextTags: [
      'script',
      'style',
      'textarea',
      'option',
      'noscript',
      'title',
      'mj-head',
      'mj-style',
      'mj-raw',
      'mj-font',
      'mj-attributes',
    ],
    // An image left without its (refused) source would show as a broken frame.
    // (A relative src passes the scheme check, and means nothing in a mail: only https:// counts.)
    exclusiveFilter: (frame) => (frame.tag === 'img' || frame.tag === 'mj-image') && !/^https:\/\//i.test(frame.attribs.src ?? ''),
  });
}

/** A body's words may contain "{{": written as an entity, they are never read as a layout placeholder. */
const literalBraces = (html: string) => html.replaceAll('{', '&#123;').replaceAll('}', '&#125;');

/** The MJML sections a body becomes inside the layout. */
export function bodySections(body: string, format: BroadcastFormat): string {
  let html: string;
  if (format === 'markdown') {
    html = sanitizeBody(marked.parse(body, { async: false }), 'markdown');
  } else {
    // A whole MJML document is accepted too: its mj-body is taken, its mj-head (fonts, styles) is not.
    const inner = /<mj-body[^>]*>([\s\S]*?)<\/mj-body>/i.exec(body)?.[1] ?? body;
    html = sanitizeBody(inner, 'mjml');
    if (/<mj-(section|wrapper)\b/.test(html)) return literalBraces(html);
  }
  return `<mj-section background-color="#ffffff" padding="32px 24px 8px"><mj-column><mj-text>${literalBraces(html)}</mj-text></mj-column></mj-section>`;
}

/** A sanitised body as plain text, for the text part (never the source: a script tag in markdown stays out too). */
export function plainText(html: string): string {
  return html
    .replace(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, (_all, href: string, words: string) => `${words} (${href})`)
    .replace(/<(br|hr)\s*\/?>/gi, '\n')
    .replace(/<li[^>]*>/gi, '- ')
    .replace(/<\/(p|h[1-6]|li|ul|ol|blockquote|div|tr|table|mj-text|mj-section|mj-button)>/gi, '\n\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;|&#160;/g, '\u00a0')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#123;/g, '{')
    .replace(/&#125;/g, '}')
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The locale a recipient reads the broadcast in: theirs when it was written in it, else the default, else the first written. */
export function contentLocale(content: Pick<BroadcastContent, 'body'>, recipient: Locale): Locale {
  const written = localesOf(content.body);
  if (written.includes(recipient)) return recipient;
  return written.includes(DEFAULT_LOCALE) ? DEFAULT_LOCALE : (written[0] ?? DEFAULT_LOCALE);
}

/** Keeps or removes the layout's `{{#name}}…{{/name}}` blocks (e.g. the preference-centre link, once it exists). */
function sections(source: string, name: string, keep: boolean): string {
  const block = new RegExp(`\\{\\{#${name}\\}\\}([\\s\\S]*?)\\{\\{/${name}\\}\\}`, 'g');
  return source.replace(block, (_all, inner: string) => (keep ? inner : ''));
}

/** A compiled text with the variable `name` replaced by a literal (so nothing in it is read as a placeholder). */
function inline(compiled: CompiledText, name: string, literal: string): CompiledText {
  const out: CompiledText = [compiled[0] ?? ''];
  for (let i = 1; i < compiled.length; i += 2) {
    if (compiled[i] === name) out[out.length - 1] += literal + (compiled[i + 1] ?? '');
    else out.push(compiled[i]!, compiled[i + 1] ?? '');
  }
  return out;
}

export class BroadcastRenderError extends Error {}

/**
 * A broadcast in one locale, compiled once: MJML is rendered here, so per recipient only the
 * layout's variables (list, site, unsubscribe and preferences links) are filled in.
 * `strict` (when the broadcast is written) refuses MJML with errors; sending renders what it can.
 * `test`: an admin's test copy (the layout's `{{#test}}` block instead of `{{#subscriber}}`).
 */
export async function renderBroadcast(
  layouts: BroadcastLayouts,
  content: BroadcastContent,
  locale: Locale,
  options: { strict?: boolean; preferences?: boolean; test?: boolean } = {},
): Promise<CompiledTemplate> {
  const baseLayout = layouts.get(locale);
  if (!baseLayout) throw new Error(`no broadcast layout for ${locale}`);
  // A test copy says so, and does not tell its reader they asked for the list and confirmed it.
  const test = options.test === true;
  const layout = {
    mjml: sections(sections(baseLayout.mjml, 'subscriber', !test), 'test', test),
    text: sections(sections(baseLayout.text, 'subscriber', !test), 'test', test),
  };
  const body = localize(content.body, locale);
  const sectionsMjml = bodySections(body, content.format);
  const subject = localize(content.subject, locale).replace(/[\r\n\u0000]+/g, ' ');
  const source = sections(layout.mjml, 'preferences', options.preferences === true)
    .replace('{{content}}', () => sectionsMjml)
    .replace('{{subject}}', () => literalBraces(escapeHtml(subject)));
  // fonts: {} — MJML would otherwise link Google Fonts for some font names: no remote fonts.
  let result;
  try {
    result = await mjml2html(source, { validationLevel: options.strict ? 'strict' : 'soft', fonts: {}, keepComments: false });
  } catch (error) {
    // Strict validation throws; its lines number the layout, not the author's body, so they go.
    const problems = (error as Error).message
      .replace(/^ValidationError:\s*/, '')
      .replace(/Line \d+ of [^(]*/g, '')
      .trim();
    throw new BroadcastRenderError(problems);
  }
  return {
    subject: [subject],
    html: compileText(result.html),
    text: inline(compileText(sections(layout.text, 'preferences', options.preferences === true)), 'content', plainText(sectionsMjml)),
  };
}

/** Renders a stored broadcast's words (JSON columns) back into content. */
export function storedContent(row: { subject: string; body: string; format: BroadcastFormat }): BroadcastContent {
  return { subject: decodeLocalizedText(row.subject), body: decodeLocalizedText(row.body), format: row.format };
}

/**
 * Compiled broadcasts, per broadcast and locale, kept for the worker: a broadcast's words never
 * change once written, so each is rendered once per process, not once per recipient.
 */
export function createBroadcastRenderer(layouts: BroadcastLayouts, options: { preferences?: boolean } = {}) {
  const cache = new Map<string, Promise<CompiledTemplate>>();
  const contents = new Map<number, BroadcastContent>();
  return {
    layouts,
    /** The stored words of a broadcast, parsed once per process (they never change once written). */
    content(broadcastId: number, row: { subject: string; body: string; format: BroadcastFormat }): BroadcastContent {
      let content = contents.get(broadcastId);
      if (!content) {
        if (contents.size >= 32) contents.delete(contents.keys().next().value!);
        contents.set(broadcastId, (content = storedContent(row)));
      }
      return content;
    },
    render(broadcastId: number, content: BroadcastContent, locale: Locale): Promise<CompiledTemplate> {
      const key = `${broadcastId}/${locale}`;
      let rendered = cache.get(key);
      if (!rendered) {
        // A few broadcasts at a time at most: the oldest entry goes.
        if (cache.size >= 32) cache.delete(cache.keys().next().value!);
        rendered = renderBroadcast(layouts, content, locale, options);
        rendered.catch(() => cache.delete(key));
        cache.set(key, rendered);
      }
      return rendered;
    },
  };
}
export type BroadcastRenderer = ReturnType<typeof createBroadcastRenderer>;
