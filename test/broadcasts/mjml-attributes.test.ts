import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastApi, seedConfirmedList } from '../support/broadcasts.js';
import { waitFor } from '../support/http.js';
import { startTestService, type TestService } from '../support/service.js';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ env: { BROADCAST_RATE_PER_MINUTE: '0' } });
});
afterAll(async () => {
  await t?.stop();
});

/**
 * Each attribute carries a CSS declaration after its value: a remote background that would track
 * the reader. These are the attributes MJML's own validation takes as free text (it refuses such
 * a value in a colour or a unit), so the body is accepted and they were passed into the mail as CSS.
 */
const HOSTILE_BODY = `<mj-section border="1px solid red;background-image:url(https://tracker.example/section.gif)" border-radius="4px;background:url(https://tracker.example/radius.gif)">
  <mj-column border="1px solid #000;background:url(https://tracker.example/column.gif)">
    <mj-text font-weight="bold;background:url(https://tracker.example/weight.gif)" font-style="italic;background:url(https://tracker.example/style.gif)" text-decoration="underline;background:url(https://tracker.example/decoration.gif)">Words</mj-text>
    <mj-button href="https://example.com/read" border="none;background:url(https://tracker.example/button.gif)">Read</mj-button>
    <mj-divider border-style="solid;background:url(https://tracker.example/divider.gif)" />
  </mj-column>
</mj-section>
<mj-section border="2px dashed #ff0000" background-color="#f0f0f0" padding="10px 20px">
  <mj-column border-radius="4px" width="100%">
    <mj-text color="rgb(10, 20, 30)" font-size="15px" line-height="1.5" font-weight="700" align="center">Kept</mj-text>
  </mj-column>
</mj-section>`;

describe('MJML attributes in a broadcast body', () => {
  it('are parsed as values: a value that carries CSS does not reach the sent mail, a plain one does', async () => {
    await seedConfirmedList(t.service.database, 'mjml-attrs', 1);
    const created = await broadcastApi(t.url, '', { list: 'mjml-attrs', subject: 'Attributes', body: HOSTILE_BODY, format: 'mjml' });
    expect(created.status).toBe(201);
    expect((await broadcastApi(t.url, `/${created.body.id}/send`)).status).toBe(200);
    const mail = await waitFor(() => t.smtp.to('mjml-attrs-0@example.com')[0], 10_000, 'the broadcast');

    const html = String(mail.parsed.html);
    expect(html).toContain('Words');
    expect(html).not.toMatch(/tracker\.example|expression\(|\.x\{/);
    expect(html).not.toMatch(/url\(/i);
    // Values of their own kind pass through to the mail's styles.
    expect(html).toContain('border:2px dashed #ff0000');
    expect(html).toMatch(/background(-color)?:#f0f0f0/);
    expect(html).toContain('padding:10px 20px');
    expect(html).toMatch(/color:rgb\(10, 20, 30\)/);
    expect(html).toContain('font-size:15px');
    expect(html).toContain('href="https://example.com/read"');
  });
});
