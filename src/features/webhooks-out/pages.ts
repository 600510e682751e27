import { escapeHtml } from '../../platform/mail/templates.js';
import type { DeliveryView } from './deliveries.js';
import type { EndpointView } from './service.js';
import { WEBHOOK_EVENT_TYPES } from './events.js';
import { csrfInput, layout, when, type PageSession } from '../../platform/http/console.js';

const h = escapeHtml;

const NOTICES: Record<string, string> = {
  enabled: 'The endpoint is enabled: deliveries it held are sent now.',
  disabled: 'The endpoint is disabled: its deliveries wait until it is enabled again.',
  deleted: 'The endpoint and its deliveries are deleted.',
  retried: 'The delivery is queued again, with the same webhook-id.',
};

const notice = (key: string | undefined) => (key && NOTICES[key] ? `<p class="notice">${h(NOTICES[key])}</p>` : '');

function state(endpoint: EndpointView): string {
  if (endpoint.enabled)
    return endpoint.failingSince
      ? `enabled, <span class="missing">failing since ${when(endpoint.failingSince)}</span>`
      : '<span class="found">enabled</span>';
  return endpoint.disabledReason ? `<span class="missing">disabled:</span> ${h(endpoint.disabledReason)}` : 'disabled by an admin';
}

/** How many deliveries wait: a disabled endpoint keeps collecting its events, and sends them in order once enabled. */
function waitingLine(endpoint: EndpointView): string {
  if (endpoint.waiting === 0) return 'none';
  const deliveries = endpoint.waiting === 1 ? '1 delivery' : `${endpoint.waiting} deliveries`;
  return endpoint.enabled
    ? `${deliveries} being sent`
    : `<strong>${deliveries}</strong> held: sent in the order of their events once the endpoint is enabled`;
}

function toggleForm(endpoint: EndpointView, session: PageSession): string {
  const action = endpoint.enabled ? 'disable' : 'enable';
  return `<form method="post" action="/admin/webhooks/${h(endpoint.id)}/${action}">${csrfInput(session)}<button type="submit" class="secondary">${endpoint.enabled ? 'Disable' : 'Enable'}</button></form>`;
}

/** The endpoints, each with enable/disable and delete, and the form to register one. */
export function webhooksPage(endpoints: readonly EndpointView[], session: PageSession, noticeKey?: string): string {
  const rows = endpoints
    .map(
      (endpoint) => `<tr>
<td data-label="URL" class="token"><a href="/admin/webhooks/${h(endpoint.id)}">${h(endpoint.url)}</a>${endpoint.description ? `<br><span class="muted">${h(endpoint.description)}</span>` : ''}</td>
<td data-label="Events">${endpoint.events.map((event) => `<code>${h(event)}</code>`).join(' ')}</td>
<td data-label="State">${state(endpoint)}${endpoint.waiting > 0 ? `<br><span class="muted">${endpoint.waiting} waiting</span>` : ''}</td>
<td data-label="Actions">${toggleForm(endpoint, session)}<form method="post" action="/admin/webhooks/${h(endpoint.id)}/delete">${csrfInput(session)}<button type="submit" class="danger">Delete</button></form></td>
</tr>`,
    )
    .join('\n');
  const table = endpoints.length
    ? `<table><thead><tr><th>URL</th><th>Events</th><th>State</th><th>Actions</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
    : '<p class="muted">No endpoint yet.</p>';
  const checkboxes = WEBHOOK_EVENT_TYPES.map(
    (event) => `<label><input type="checkbox" name="events" value="${h(event)}" checked> <code>${h(event)}</code></label>`,
  ).join('<br>\n');
  return layout(
    'Webhooks',
    `${notice(noticeKey)}
<p class="muted">Signed events (Standard Webhooks) to the systems that keep a copy of your lists. See docs/webhooks.md.</p>
${table}
<h2>Register an endpoint</h2>
<form method="post" action="/admin/webhooks" class="row">${csrfInput(session)}
<input type="text" name="url" required maxlength="2048" placeholder="https://example.com/optin-events" aria-label="Endpoint URL">
<input type="text" name="description" maxlength="500" placeholder="Description (optional)" aria-label="Description">
<fieldset><legend>Events</legend>
${checkboxes}
</fieldset>
<button type="submit">Register</button>
</form>`,
    session,
  );
}

/** Shown once after registering: the secret is never shown again. */
export function endpointCreatedPage(endpoint: EndpointView, secret: string, session: PageSession): string {
  return layout(
    'Endpoint registered',
    `<p class="notice">Copy the signing secret now: it is not shown again.</p>
<p>Endpoint <code>${h(endpoint.id)}</code> at <code>${h(endpoint.url)}</code></p>
<p>Signing secret: <code>${h(secret)}</code></p>
<p><a href="/admin/webhooks/${h(endpoint.id)}">See its deliveries</a> · <a href="/admin/webhooks">Back to the webhooks</a></p>`,
    session,
  );
}

/** A delivery whose address was erased: nothing is left to send again. */
const erased = (delivery: DeliveryView) => (delivery.payload as { data?: { email?: unknown } }).data?.email === null;

function attemptsList(delivery: DeliveryView): string {
  if (delivery.attempts.length === 0) return '<span class="muted">none yet</span>';
  return `<ol>${delivery.attempts
    .map(
      (attempt) =>
        `<li>${when(attempt.at)} · ${attempt.statusCode === null ? 'no answer' : `HTTP ${attempt.statusCode}`} · ${attempt.durationMs} ms${attempt.error ? ` · <span class="missing">${h(attempt.error)}</span>` : ''}</li>`,
    )
    .join('')}</ol>`;
}

/** One endpoint and its recent deliveries, each with its attempts and a "Send again" button once it has ended. */
export function endpointPage(
  endpoint: EndpointView,
  deliveries: readonly DeliveryView[],
  session: PageSession,
  noticeKey?: string,
): string {
  const rows = deliveries
    .map(
      (delivery) => `<tr>
<td data-label="Event"><code>${h(delivery.type)}</code><br><span class="muted">${h(delivery.id)}</span></td>
<td data-label="Created">${when(delivery.createdAt)}</td>
<td data-label="Status">${h(delivery.status)}</td>
<td data-label="Attempts">${attemptsList(delivery)}</td>
<td data-label="Send again">${
        delivery.status === 'queued'
          ? '<span class="muted">queued</span>'
          : erased(delivery)
            ? '<span class="muted">address erased</span>'
            : `<form method="post" action="/admin/webhooks/${h(endpoint.id)}/deliveries/${h(delivery.id)}/retry">${csrfInput(session)}<button type="submit" class="secondary">Send again</button></form>`
      }</td>
</tr>`,
    )
    .join('\n');
  const table = deliveries.length
    ? `<table><thead><tr><th>Event</th><th>Created</th><th>Status</th><th>Attempts</th><th>Send again</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
    : '<p class="muted">No delivery yet.</p>';
  return layout(
    'Webhook endpoint',
    `${notice(noticeKey)}
<p class="token"><code>${h(endpoint.url)}</code>${endpoint.description ? ` · ${h(endpoint.description)}` : ''}</p>
<p>Events: ${endpoint.events.map((event) => `<code>${h(event)}</code>`).join(' ')}</p>
<p>State: ${state(endpoint)}</p>
<p>Waiting: ${waitingLine(endpoint)}</p>
<div class="row">${toggleForm(endpoint, session)}</div>
<h2>Recent deliveries</h2>
${table}
<p><a href="/admin/webhooks">Back to the webhooks</a></p>`,
    session,
  );
}
