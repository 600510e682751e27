import { marked } from 'marked';
import sanitizeHtml from 'sanitize-html';

/*
 * A list's welcome message is Markdown an admin writes; it reaches mailboxes as HTML. Admins are
 * trusted, but an admin token can leak and a pasted snippet can carry more than it shows, so the
 * HTML keeps only what a mail needs: text, links (http, https, mailto) and images over https
 * (no tracking pixel over plain http, no data: URL). No script, style, form or event handler.
 */
const ALLOWED = {
  allowedTags: [
    'p',
    'br',
    'strong',
    'em',
    'b',
    'i',
    'u',
    's',
    'del',
    'a',
    'ul',
    'ol',
    'li',
    'blockquote',
    'code',
    'pre',
    'h1',
    'h2',
    'h3',
    'h4',
    'hr',
    'img',
    'table',
    'thead',
    'tbody',
    'tr',
    'th',
    'td',
  ],
  allowedAttributes: { a: ['href', 'title', 'rel'], img: ['src', 'alt', 'title', 'width', 'height'] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['https'] },
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard' as const,
  // An image without an https address (relative, http, a scheme refused above) has no place in a mail.
  exclusiveFilter: (frame: sanitizeHtml.IFrame) => frame.tag === 'img' && !/^https:\/\//i.test(frame.attribs.src ?? ''),
  // Links open outside the mail client's frame and do not tell the target where they came from.
  transformTags: { a: sanitizeHtml.simpleTransform('a', { rel: 'noopener noreferrer' }) },
};

/** The welcome message as safe HTML for the mail's layout. */
export function renderWelcomeMessage(markdown: string): string {
  const html = marked.parse(markdown, { async: false, gfm: true });
  return sanitizeHtml(html, ALLOWED);
}
