import { escapeHtml } from '../../platform/mail/templates.js';
import { type PageSession, layout } from '../../platform/http/console.js';
import type { SendingSetup } from './service.js';
import { liveSummary } from './service.js';

const h = escapeHtml;

export function sendingSetupPage(setup: SendingSetup, session: PageSession): string {
  const rows = setup.records
    .map(
      (r) => `<tr>
<td data-label="Record">${h(r.kind)}<br><span class="muted">${h(r.purpose)}</span></td>
<td data-label="TXT name"><code>${h(r.name)}</code></td>
<td data-label="Publish">${r.value ? `<code>${h(r.value)}</code>` : '<span class="muted">nothing yet</span>'}</td>
<td data-label="Live DNS" class="${h(r.live.status)}">${h(liveSummary(r.live))}</td>
</tr>`,
    )
    .join('\n');
  const dns = setup.dnsUnreachable
    ? `<p class="problem">DNS could not be reached (${h(setup.dnsUnreachable)}): nothing was checked. The records below are what to publish.</p>`
    : '';
  return layout(
    'Sending setup',
    `${setup.warnings.map((w) => `<p class="problem">${h(w)}</p>`).join('\n')}
${dns}<p>What to publish in DNS so that the big mailbox providers accept mail from <strong>${h(setup.fromDomain)}</strong>: built from this configuration, and checked against live DNS. <code>docs/deliverability.md</code> explains each record.</p>
<table><thead><tr><th>Record</th><th>TXT name</th><th>Publish</th><th>Live DNS</th></tr></thead><tbody>
${rows}
</tbody></table>`,
    session,
  );
}
