import { escapeHtml } from '../../platform/mail/templates.js';
import type { QueueHealth } from '../../platform/queue/queueHealth.js';
import type { DayStats, FailingEndpoint, Stats } from './service.js';
import { layout, when, type PageSession } from '../../platform/http/console.js';

const h = escapeHtml;

const SERIES = [
  { key: 'signups', label: 'Signups', colour: '#2563eb', dash: '' },
  { key: 'confirmations', label: 'Confirmations', colour: '#059669', dash: '8 4' },
  { key: 'unsubscribes', label: 'Unsubscribes', colour: '#dc2626', dash: '2 4' },
] as const;

const WIDTH = 720;
const HEIGHT = 260;
const LEFT = 44;
const RIGHT = 12;
const TOP = 16;
const BOTTOM = 36;

const total = (days: readonly DayStats[], key: Exclude<keyof DayStats, 'date'>) => days.reduce((n, d) => n + d[key], 0);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The days as a line chart, drawn on the server: the console's CSP allows no script. Colours
 * are presentation attributes (not style), lines differ by dash as well as colour, and the
 * image is named by its <title>; the table after it carries the same numbers for every reader.
 */
function chart(days: readonly DayStats[]): string {
  const most = Math.max(1, ...days.flatMap((d) => SERIES.map((s) => d[s.key])));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (i: number) => LEFT + (days.length === 1 ? plotWidth / 2 : (i * plotWidth) / (days.length - 1));
  const y = (value: number) => TOP + plotHeight - (value * plotHeight) / most;
  const ticks = [...new Set([0, Math.round(most / 2), most])];
  const grid = ticks
    .map(
      (v) =>
        `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="currentColor" stroke-opacity="0.25"/><text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" font-size="12" fill="currentColor">${v}</text>`,
    )
    .join('');
  const labelled = [...new Set([0, Math.floor((days.length - 1) / 2), days.length - 1])];
  const dates = labelled
    .map(
      (i) =>
        `<text x="${x(i)}" y="${HEIGHT - 12}" text-anchor="middle" font-size="12" fill="currentColor">${h(days[i]!.date.slice(5))}</text>`,
    )
    .join('');
  const lines = SERIES.map(
    (s) =>
      `<polyline fill="none" stroke="${s.colour}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${days.map((d, i) => `${x(i).toFixed(1)},${y(d[s.key]).toFixed(1)}`).join(' ')}"/>`,
  ).join('');
  const summary = `${SERIES.map((s) => plural(total(days, s.key), s.label.toLowerCase().replace(/s$/, ''))).join(', ')} in the last ${plural(days.length, 'day')}, per day (the table below has each day's numbers)`;
  return `<svg role="img" aria-labelledby="chart-title" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet"><title id="chart-title">${h(summary)}</title>${grid}${dates}${lines}</svg>
<p>${SERIES.map((s) => `<svg aria-hidden="true" width="28" height="10"><line x1="0" x2="28" y1="5" y2="5" stroke="${s.colour}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/></svg> ${h(s.label)}`).join(' &nbsp; ')}</p>`;
}

function dayTable(days: readonly DayStats[]): string {
  const rows = [...days]
    .reverse()
    .map(
      (d) =>
        `<tr><td data-label="Day"><time datetime="${h(d.date)}">${h(d.date)}</time></td><td data-label="Signups">${d.signups}</td><td data-label="Confirmations">${d.confirmations}</td><td data-label="Unsubscribes">${d.unsubscribes}</td><td data-label="Reminders">${d.reminders}</td></tr>`,
    )
    .join('');
  return `<details><summary>The numbers, day by day</summary><table><thead><tr><th>Day</th><th>Signups</th><th>Confirmations</th><th>Unsubscribes</th><th>Reminders</th></tr></thead><tbody>${rows}</tbody></table></details>`;
}

function queueSection(queue: QueueHealth | null): string {
  if (!queue) return '<p class="problem">The queue (Redis) did not answer: mail waits in the outbox until it does.</p>';
  const cells = Object.entries(queue.counts)
    .map(([state, n]) => `<tr><th>${h(state)}</th><td data-label="${h(state)}">${n}</td></tr>`)
    .join('');
  const fault = queue.senderFault
    ? `<p class="problem">Sending is held: ${h(queue.senderFault)}. See <a href="/admin/sending">Sending setup</a>.</p>`
    : (queue.counts.failed ?? 0) > 0
      ? `<p class="problem">Some jobs failed: see <a href="/admin/queues">the queue</a>.</p>`
      : '<p class="notice">Mail is flowing.</p>';
  return `${fault}<table><tbody>${cells}</tbody></table><p><a href="/admin/queues">Open the queue</a></p>`;
}

function webhookSection(failing: readonly FailingEndpoint[]): string {
  if (failing.length === 0) return '<p class="muted">No webhook endpoint is failing.</p>';
  const rows = failing
    .map(
      (e) =>
        `<tr><td data-label="Endpoint" class="token">${h(e.url)}</td><td data-label="State">${e.enabled ? 'enabled' : 'disabled'}</td><td data-label="Failing since">${when(e.failingSince)}</td><td data-label="Why disabled">${h(e.disabledReason ?? '')}</td></tr>`,
    )
    .join('');
  return `<p class="problem">${plural(failing.length, 'webhook endpoint')} failing or disabled.</p><table><thead><tr><th>Endpoint</th><th>State</th><th>Failing since</th><th>Why disabled</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The console's home: every list at a glance, the last 30 days, the queue and the webhooks. */
export function dashboardPage(stats: Stats, queue: QueueHealth | null, failing: readonly FailingEndpoint[], session: PageSession): string {
  const lists = stats.lists.length
    ? `<table><thead><tr><th>List</th><th>Pending</th><th>Confirmed</th><th>Unsubscribed</th></tr></thead><tbody>${stats.lists
        .map(
          (l) =>
            `<tr><td data-label="List"><a href="/admin/lists/${h(encodeURIComponent(l.slug))}">${h(l.slug)}</a></td><td data-label="Pending">${l.counts.pending}</td><td data-label="Confirmed">${l.counts.confirmed}</td><td data-label="Unsubscribed">${l.counts.unsubscribed}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">No lists yet.</p>';
  const signups = total(stats.days, 'signups');
  const rate =
    stats.confirmationRate === null
      ? `<p>No signups in the last ${plural(stats.days.length, 'day')}, so no confirmation rate yet.</p>`
      : `<p>Confirmation rate over the last ${plural(stats.days.length, 'day')}: <strong>${Math.round(stats.confirmationRate * 100)}%</strong> (${plural(total(stats.days, 'confirmations'), 'confirmation')} for ${plural(signups, 'signup')}; ${plural(total(stats.days, 'reminders'), 'reminder')} sent to those who had not confirmed).</p>`;
  return layout(
    'Dashboard',
    `<h2>Lists</h2>${lists}
<h2>The last ${plural(stats.days.length, 'day')}</h2>${rate}
${chart(stats.days)}
${dayTable(stats.days)}
<h2>Queue</h2>${queueSection(queue)}
<h2>Webhooks</h2>${webhookSection(failing)}`,
    session,
  );
}
